/**
 * When a scene was acquired, from whatever its input carries: a STAC item's datetime, OSCD's `dates.txt`, a SAFE
 * product's MTD file or name, GDAL metadata items of the TIFF (ACQUISITION_DATE…), or a Sentinel-2 product/tile
 * file name. Each answer says where it came from, so a
 * reader can judge it; no date is ever guessed from a processing time (OSCD's `S2A_OPER_…_20161227T…` names are
 * processing times, not acquisitions).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** An acquisition date and where it was read. */
export interface Acquired {
  /** ISO date (YYYY-MM-DD), UTC. */
  date: string;
  /** ISO date-time when the source gives the time of day too. */
  datetime?: string;
  /** Where the date was read, e.g. "STAC item datetime", "dates.txt (OSCD) date_1", "file name S2A_MSIL2A_20221005T115411_…". */
  source: string;
}

/**
 * Sentinel-2 names that carry the sensing date (never the OPER processing time):
 * product names S2A_MSIL2A_20221005T115411_…, tile files T29UNU_20221005T115411_B04_10m.jp2 or T31UDQ_20170829_B04.tif,
 * sen2r names S2A2A_20170703_022_…
 */
const NAME_PATTERNS: { re: RegExp; what: string }[] = [
  { re: /S2[A-D]_MSI(?:L1C|L2A|L2AP)_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})/, what: 'Sentinel-2 product name' },
  { re: /(?:^|[_/\\])T\d{2}[A-Z]{3}_(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2}))?_/, what: 'Sentinel-2 tile file name' },
  { re: /(?:^|[/\\])S2[A-D][12][AC]_(\d{4})(\d{2})(\d{2})_\d{3}_/, what: 'sen2r file name' },
];

/** The acquisition date in a Sentinel-2 file or product name, or null (OPER processing-time names give null). */
export function dateFromName(name: string): Acquired | null {
  const base = path.basename(name);
  for (const { re, what } of NAME_PATTERNS) {
    const m = re.exec(base) ?? re.exec(name);
    if (!m) continue;
    const [y, mo, d, h, mi, s] = m.slice(1);
    const date = isoDate(y!, mo!, d!);
    if (!date) continue;
    return { date, ...(h ? { datetime: `${date}T${h}:${mi}:${s}Z` } : {}), source: `${what} ${base}` };
  }
  return null;
}

/** A date from a STAC-like datetime string ("2022-10-05T11:54:11.024Z"), or null. */
export function dateFromDatetime(value: unknown, source: string): Acquired | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})?)?/.exec(value.trim());
  if (!m) return null;
  const date = isoDate(m[1]!, m[2]!, m[3]!);
  if (!date) return null;
  return { date, ...(m[4] ? { datetime: value.trim() } : {}), source };
}

/** OSCD's `dates.txt` ("date_1: 20150916\ndate_2: 20171015"): the date of `which` (1 or 2), or null. */
export function dateFromOscdDates(text: string, which: 1 | 2): Acquired | null {
  const m = new RegExp(`^\\s*date_${which}\\s*:\\s*(\\d{4})(\\d{2})(\\d{2})\\s*$`, 'm').exec(text);
  if (!m) return null;
  const date = isoDate(m[1]!, m[2]!, m[3]!);
  return date ? { date, source: `dates.txt (OSCD) date_${which}` } : null;
}

/** PRODUCT_START_TIME (or DATATAKE_SENSING_START) of a SAFE's MTD_MSIL1C/MTD_MSIL2A.xml, or null. */
export function dateFromSafeMtd(xml: string, file: string): Acquired | null {
  for (const tag of ['PRODUCT_START_TIME', 'DATATAKE_SENSING_START', 'SENSING_TIME']) {
    const m = new RegExp(`<${tag}[^>]*>\\s*([^<\\s]+)\\s*</${tag}>`).exec(xml);
    const a = m ? dateFromDatetime(m[1], `${path.basename(file)} ${tag}`) : null;
    if (a) return a;
  }
  return null;
}

/** GDAL metadata items that hold a scene's acquisition (sensing) time, as GDAL's Sentinel-2 and other drivers name them. */
const ACQUISITION_KEY = /^(ACQUISITION_?(DATE|TIME|DATETIME)|DATE_ACQUIRED|SENSING_(TIME|DATE|START)|PRODUCT_START_TIME|(DATATAKE_\d+_)?DATATAKE_SENSING_START)$/i;

/**
 * The items of a TIFF's dataset-level GDAL metadata that name the acquisition time (e.g. ACQUISITION_DATE,
 * DATATAKE_1_DATATAKE_SENSING_START), or null. TIFFTAG_DATETIME is not one: it is when the file was written.
 */
export function acquisitionItems(items: Readonly<Record<string, string>>): Record<string, string> | null {
  const found = Object.entries(items).filter(([k]) => ACQUISITION_KEY.test(k));
  return found.length ? Object.fromEntries(found) : null;
}

/**
 * The acquisition date of an input: in order, its provenance `datetime` (STAC item), OSCD `dates.txt` beside an
 * `imgs_1`/`imgs_2` folder, a `.SAFE` product's MTD file or name, the TIFF's GDAL metadata items
 * (`provenance.acquisitionMetadata`, see `acquisitionItems`), then Sentinel-2 names of the input and its files. Null when none of them tells (e.g. median composites, 8-bit PNG chips).
 */
export async function acquisitionDate(input: string, provenance: Record<string, unknown>): Promise<Acquired | null> {
  const stac = dateFromDatetime(provenance['datetime'], provenance['stacItem'] ? `STAC item ${String(provenance['stacItem'])} datetime` : 'input metadata datetime');
  if (stac) return stac;
  if (/^https?:\/\//i.test(input)) return fromNames(input, provenance);
  const local = input.startsWith('file://') ? decodeURIComponent(new URL(input).pathname) : input;
  const folder = path.basename(local.replace(/[/\\]+$/, ''));
  const oscd = /^imgs_([12])$/.exec(folder);
  if (oscd) {
    const text = await readFile(path.join(path.dirname(local.replace(/[/\\]+$/, '')), 'dates.txt'), 'utf8').catch(() => null);
    const a = text ? dateFromOscdDates(text, Number(oscd[1]) as 1 | 2) : null;
    if (a) return a;
  }
  const safe = /^(.*?\.SAFE)(?:[/\\]|$)/i.exec(local);
  if (safe) {
    const dir = safe[1]!;
    const mtd = (await readdir(dir).catch(() => [] as string[])).find((n) => /^MTD_MSIL(1C|2A)\.xml$/i.test(n));
    const xml = mtd ? await readFile(path.join(dir, mtd), 'utf8').catch(() => null) : null;
    const a = xml ? dateFromSafeMtd(xml, mtd!) : null;
    if (a) return a;
  }
  const items = provenance['acquisitionMetadata'];
  if (items && typeof items === 'object') {
    for (const [k, v] of Object.entries(items as Record<string, unknown>)) {
      const a = dateFromDatetime(v, `TIFF metadata ${k}`) ?? (typeof v === 'string' && /^\d{8}$/.test(v.trim())
        ? dateFromDatetime(`${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}`, `TIFF metadata ${k}`) : null);
      if (a) return a;
    }
  }
  return fromNames(local, provenance);
}

function fromNames(input: string, provenance: Record<string, unknown>): Acquired | null {
  const names = [input, provenance['productId'], provenance['file'], ...(Array.isArray(provenance['files']) ? provenance['files'] : [])];
  for (const n of names) {
    if (typeof n !== 'string') continue;
    const a = dateFromName(n);
    if (a) return a;
  }
  return null;
}

function isoDate(y: string, m: string, d: string): string | null {
  const t = Date.UTC(Number(y), Number(m) - 1, Number(d));
  const iso = new Date(t).toISOString().slice(0, 10);
  return iso === `${y}-${m}-${d}` ? iso : null;
}
