/**
 * Readers for the labelled change datasets the accuracy bench knows: OSCD, CAL FIRE chips, OMBRIA and
 * Sen1Floods11. Each reader lists the items found under a root laid out like the original dataset; any folder
 * with the same layout (more or other items) works.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputNotFoundError, UsageError } from '../errors.js';
import type { TruthCoding } from './evaluate.js';

export type DatasetName = 'oscd' | 'calfire' | 'ombria' | 'sen1floods11';
export const DATASETS: readonly DatasetName[] = ['oscd', 'calfire', 'ombria', 'sen1floods11'];

/** One labelled scene pair (or single scene for water maps). */
export interface BenchItem {
  id: string;
  /** Items of one group are held out together in cross-validation (city, fire, flood event). */
  group: string;
  before?: string;
  after: string;
  /** Band names in file order for PNGs / multi-band files without band descriptions. */
  bands?: string[];
  truth: string;
  coding: TruthCoding;
  /**
   * The label raster has no georeferencing but lies on the pixel grid of this before-scene band (OSCD: the
   * `imgs_1` 10 m grid); the bench gives it that band's grid.
   */
  truthOnBeforeBand?: 'B02';
}

export interface Dataset {
  name: DatasetName;
  root: string;
  items: BenchItem[];
  /** Facts the output must state (radiometry, georeferencing, protocol). */
  notes: string[];
  /**
   * Whether `bench accuracy` co-registers the after date by default (as `detect` does), and why not when false;
   * `--no-coregister` / `coregister` override it either way. Absent: true.
   */
  coregister?: { default: boolean; why: string };
}

const OSCD_IMAGES = 'Onera Satellite Change Detection dataset - Images';
/** OSCD ships its labels in two archives (folders) of the same layout: the 14 training and the 10 test cities. */
const OSCD_LABEL_FOLDERS = ['Onera Satellite Change Detection dataset - Train Labels', 'Onera Satellite Change Detection dataset - Test Labels'] as const;

async function exists(p: string): Promise<boolean> {
  return !!(await stat(p).catch(() => null));
}

/** Entries of a folder of one kind, following symbolic links (datasets are often linked into place). */
async function entries(p: string, kind: 'dir' | 'file'): Promise<string[]> {
  const list = await readdir(p, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of list) {
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const st = await stat(path.join(p, e.name)).catch(() => null);
      isDir = !!st?.isDirectory();
      isFile = !!st?.isFile();
    }
    if (kind === 'dir' ? isDir : isFile) out.push(e.name);
  }
  return out.sort();
}

const dirs = (p: string) => entries(p, 'dir');
const files = (p: string) => entries(p, 'file');

/**
 * OSCD: `<root>/… - Images/<city>/imgs_1|imgs_2` and `<root>/… - Train Labels/<city>/cm/<city>-cm.tif` or
 * `<root>/… - Test Labels/<city>/cm/<city>-cm.tif` (the official test-label archive).
 */
export async function readOscd(root: string): Promise<Dataset> {
  const images = path.join(root, OSCD_IMAGES);
  const items: BenchItem[] = [];
  const notes = ['OSCD: Sentinel-2 L1C (TOA), 13 bands at native resolution; labels 1 = no change, 2 = change on the imgs_1 10 m grid.',
    'Dates may lie on different grids (abudhabi: two UTM zones); both dates are read onto the imgs_1 10 m grid.'];
  const skipped: string[] = [];
  for (const city of await dirs(images)) {
    let truth = '';
    for (const folder of OSCD_LABEL_FOLDERS) {
      const t = path.join(root, folder, city, 'cm', `${city}-cm.tif`);
      if (await exists(t)) { truth = t; break; }
    }
    const before = path.join(images, city, 'imgs_1');
    const after = path.join(images, city, 'imgs_2');
    if (!truth || !(await exists(before)) || !(await exists(after))) { skipped.push(city); continue; }
    items.push({ id: city, group: city, before, after, truth, coding: { change: [2], noChange: [1] }, truthOnBeforeBand: 'B02' });
  }
  if (skipped.length) notes.push(`skipped (no labels or images): ${skipped.join(', ')}`);
  return { name: 'oscd', root, items, notes };
}

/** CAL FIRE chips: `data/{pre_fire,post_fire,masks}/<id>.tif` and `<id>_{pre_fire,post_fire,mask}.tif` at the top. */
export async function readCalfire(root: string): Promise<Dataset> {
  const items: BenchItem[] = [];
  const coding = { change: [1], noChange: [0] };
  const data = path.join(root, 'data');
  for (const f of await files(path.join(data, 'masks'))) {
    if (!/\.tif$/i.test(f)) continue;
    const id = f.replace(/\.tif$/i, '');
    const before = path.join(data, 'pre_fire', f);
    const after = path.join(data, 'post_fire', f);
    if (await exists(before) && await exists(after)) items.push({ id, group: id, before, after, truth: path.join(data, 'masks', f), coding });
  }
  for (const f of await files(root)) {
    const m = /^(.*)_mask\.tif$/i.exec(f);
    if (!m) continue;
    const id = m[1]!;
    const before = path.join(root, `${id}_pre_fire.tif`);
    const after = path.join(root, `${id}_post_fire.tif`);
    if (items.some((i) => i.id === id)) continue;
    if (await exists(before) && await exists(after)) items.push({ id, group: id, before, after, truth: path.join(root, f), coding });
  }
  items.sort((a, b) => a.id.localeCompare(b.id));
  return {
    name: 'calfire', root, items,
    notes: ['CAL FIRE chips: L2A surface reflectance median composites (bands B2,B3,B4,B8,B12, 20 m, EPSG:4326); truth = fire perimeter polygon (1 inside), not a pixel burn map.'],
    // Measured (docs/ACCURACY.md): co-registration applied on 4 of 10 chips (0.15–0.33 px) moved pooled F1 by
    // −0.23 … +0.52 points. A median composite of many acquisitions has no single acquisition's offset to correct,
    // and the burn scar itself (NIR collapses inside it) is what the phase correlation then aligns on.
    coregister: { default: false, why: 'the chips are median composites of many acquisitions (no single acquisition\'s offset to correct) and the burn scar dominates the correlation (measured: pooled F1 −0.23 … +0.52 points with it); pass coregister to force it' },
  };
}

/** OMBRIA: `<year>/<EVENT>/Sentinel2/{BEFORE/imbefore_<i>.png, AFTER/imafter_<i>.png, MASK/gt_<i>.png}`. */
export async function readOmbria(root: string): Promise<Dataset> {
  const items: BenchItem[] = [];
  for (const year of await dirs(root)) {
    for (const event of await dirs(path.join(root, year))) {
      const s2 = path.join(root, year, event, 'Sentinel2');
      for (const f of await files(path.join(s2, 'MASK'))) {
        const m = /^gt_(\d+)\.png$/i.exec(f);
        if (!m) continue;
        const before = path.join(s2, 'BEFORE', `imbefore_${m[1]}.png`);
        const after = path.join(s2, 'AFTER', `imafter_${m[1]}.png`);
        if (!(await exists(before)) || !(await exists(after))) continue;
        items.push({
          id: `${year}/${event}/${m[1]}`, group: `${year}/${event}`, before, after, bands: ['B11', 'B08', 'B03'],
          truth: path.join(s2, 'MASK', f), coding: { change: [255], noChange: [0] },
        });
      }
    }
  }
  const num = (id: string) => Number(id.split('/').pop());
  items.sort((a, b) => a.group.localeCompare(b.group) || num(a.id) - num(b.id));
  return {
    name: 'ombria', root, items,
    notes: ['OMBRIA: 8-bit false-colour PNGs (R = B11, G = B8, B = B3) — a display stretch, NOT reflectance, and NOT georeferenced; index values (MNDWI) are only approximate.',
      'Truth = EMS Rapid Mapping flood extent (255 = flooded); clouds are not masked in the truth.'],
    // Measured (docs/ACCURACY.md): co-registering the after patch onto the before patch lowered the index methods'
    // pooled F1 by up to 1.5 points (NDWI ≥ 0: 61.98 → 60.44). The flood masks are drawn on the after date's
    // geometry (EMS maps the post-event extent), so moving the after date onto the before date moves the mapped
    // water off its labels by the shift.
    coregister: { default: false, why: 'the EMS flood masks lie on the after date\'s geometry (post-event mapping), so co-registering the after patch onto the before patch moves the detected water off the labels (measured: NDWI ≥ 0 pooled F1 61.98 → 60.44); pass coregister to force it' },
  };
}

/** Sen1Floods11: every `…/<id>_S2Hand.tif` with a `…/<id>_LabelHand.tif` anywhere under the root (single date). */
export async function readSen1floods11(root: string): Promise<Dataset> {
  const s2 = new Map<string, string>();
  const labels = new Map<string, string>();
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 6) return;
    for (const f of await files(dir)) {
      let m = /^(.*)_S2Hand\.tif$/i.exec(f);
      if (m) s2.set(m[1]!, path.join(dir, f));
      m = /^(.*)_LabelHand\.tif$/i.exec(f);
      if (m) labels.set(m[1]!, path.join(dir, f));
    }
    for (const d of await dirs(dir)) await walk(path.join(dir, d), depth + 1);
  };
  await walk(root, 0);
  const items: BenchItem[] = [];
  const unlabelled: string[] = [];
  for (const [id, after] of [...s2].sort()) {
    const truth = labels.get(id);
    if (!truth) { unlabelled.push(id); continue; }
    items.push({ id, group: id.split('_')[0]!, after, truth, coding: { change: [1], noChange: [0], ignore: [-1] } });
  }
  const notes = ['Sen1Floods11: single-date water mapping (S2 L1C during the flood vs hand label: −1 nodata (skipped), 0 dry, 1 water); "change" here means water.'];
  if (unlabelled.length) notes.push(`skipped (no LabelHand): ${unlabelled.join(', ')}`);
  return { name: 'sen1floods11', root, items, notes };
}

/** Read the named dataset under `root`; errors name the layout expected. */
export async function readDataset(name: string, root: string): Promise<Dataset> {
  if (!(DATASETS as readonly string[]).includes(name)) {
    throw new UsageError('unknown dataset', { input: `--dataset ${name}`, expected: DATASETS.join(' | '), found: name });
  }
  if (!(await exists(root))) {
    throw new InputNotFoundError('no such folder', { input: `--root ${root}`, expected: `a ${name} dataset folder`, found: 'nothing at that path' });
  }
  const ds = name === 'oscd' ? await readOscd(root) : name === 'calfire' ? await readCalfire(root)
    : name === 'ombria' ? await readOmbria(root) : await readSen1floods11(root);
  if (ds.items.length === 0) {
    const layout: Record<DatasetName, string> = {
      oscd: `"${OSCD_IMAGES}/<city>/imgs_1|imgs_2" and "${OSCD_LABEL_FOLDERS.join('" or "')}/<city>/cm/<city>-cm.tif"`,
      calfire: 'data/{pre_fire,post_fire,masks}/<id>.tif or <id>_{pre_fire,post_fire,mask}.tif',
      ombria: '<year>/<EVENT>/Sentinel2/{BEFORE/imbefore_<i>.png,AFTER/imafter_<i>.png,MASK/gt_<i>.png}',
      sen1floods11: '<id>_S2Hand.tif with a matching <id>_LabelHand.tif',
    };
    throw new InputNotFoundError('no labelled items found', {
      input: `--root ${root}`, expected: `the ${name} layout: ${layout[name as DatasetName]}`, found: 'no complete item',
      fix: 'Point --root at the dataset folder itself (e.g. ../shared/data/oscd)',
    });
  }
  return ds;
}

/**
 * Read the named dataset under each of `roots` and merge their items (e.g. OSCD's train and test folders).
 * Two roots holding an item of the same id is a UsageError (it would be counted twice).
 */
export async function readDatasets(name: string, roots: readonly string[]): Promise<Dataset> {
  if (roots.length === 0) throw new UsageError('no dataset folder given', { input: '--root', expected: 'one or more --root DIR' });
  const parts: Dataset[] = [];
  for (const r of roots) parts.push(await readDataset(name, r));
  if (parts.length === 1) return parts[0]!;
  const seen = new Map<string, string>();
  for (const d of parts) {
    for (const it of d.items) {
      const other = seen.get(it.id);
      if (other !== undefined) {
        throw new UsageError('the same item is in two dataset folders', { input: `--root ${d.root}`, expected: 'folders with distinct items', found: `${it.id} also under ${other}` });
      }
      seen.set(it.id, d.root);
    }
  }
  const notes: string[] = [];
  for (const d of parts) for (const n of d.notes) if (!notes.includes(n)) notes.push(d.notes.indexOf(n) === 0 || !n.startsWith('skipped') ? n : `${d.root}: ${n}`);
  return { name: parts[0]!.name, root: roots.join(', '), items: parts.flatMap((d) => d.items), notes };
}
