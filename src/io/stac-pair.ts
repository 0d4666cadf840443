/**
 * Choosing the before/after pair for an event from STAC search results, and saying why.
 *
 * Candidates are items within `windowDays` before and after the event date whose footprint meets the AOI. Pairs are
 * compared on, in order: the clear-pixel share inside the AOI of the worse of the two scenes, the mean clear share
 * (both compared in steps of `clearTolerance`, so a 0.3 % difference does not outweigh geometry), then same relative
 * orbit (same viewing geometry), same MGRS tile (same pixel grid), then the fewest total days from the event.
 */
import { StacError } from '../errors.js';
import type { StacItemSummary } from './stac-search.js';

/** Options of `choosePair`. */
export interface PairOptions {
  /** The event date (ISO string or Date); items at or after it are "after". */
  eventDate: string | Date;
  /** How many days before and after the event to look. */
  windowDays: number;
  /** [west, south, east, north] in degrees; items whose bbox misses it are excluded. */
  aoi?: [number, number, number, number];
  /** Clear (not cloud/shadow/nodata) share of the AOI in this item, 0..1 (the caller reads the SCL overview). */
  clearFraction: (item: StacItemSummary) => Promise<number>;
  /** Items clearer than this only (default 0: any). */
  minClearFraction?: number;
  /** Clear shares closer than this count as equal (default 0.02). */
  clearTolerance?: number;
  /** Max concurrent clearFraction calls (default 4). */
  concurrency?: number;
}

/** One row of the explanation. */
export interface PairRankingRow {
  id: string;
  role: 'before' | 'after';
  /** null when the item was excluded before its clear share was measured. */
  clearFraction: number | null;
  cloudCover: number | null;
  /** Signed: negative before the event. */
  daysFromEvent: number;
  chosen: boolean;
  reason: string;
}

/** The chosen pair and the ranking of every item. */
export interface PairChoice {
  before: StacItemSummary;
  after: StacItemSummary;
  ranking: PairRankingRow[];
}

const DAY = 86_400_000;

function intersects(a: [number, number, number, number], b: [number, number, number, number]): boolean {
  return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3];
}

async function mapLimited<T, R>(xs: T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let i = 0;
  const worker = async (): Promise<void> => {
    while (i < xs.length) {
      const k = i++;
      out[k] = await f(xs[k]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, xs.length) }, worker));
  return out;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const days = (d: number): string => `${Math.abs(d).toFixed(1)} days ${d < 0 ? 'before' : 'after'} the event`;

/**
 * Pick the best before/after pair (see the module comment for the order of criteria). Throws StacError naming the
 * options to change when one side has no usable candidate.
 */
export async function choosePair(items: StacItemSummary[], opts: PairOptions): Promise<PairChoice> {
  const event = new Date(opts.eventDate).getTime();
  if (!Number.isFinite(event)) {
    throw new StacError('invalid event date', { input: String(opts.eventDate), expected: 'an ISO date such as 2024-09-10', found: String(opts.eventDate) });
  }
  const tol = opts.clearTolerance ?? 0.02;
  const minClear = opts.minClearFraction ?? 0;
  const q = (x: number): number => Math.round(x / tol);

  type Cand = { item: StacItemSummary; role: 'before' | 'after'; d: number; clear: number | null; excluded: string | null };
  const cands: Cand[] = items.map((item) => {
    const t = item.datetime ? Date.parse(item.datetime) : NaN;
    const d = (t - event) / DAY;
    const role = d < 0 ? 'before' : 'after';
    let excluded: string | null = null;
    if (!Number.isFinite(t)) excluded = 'no usable datetime';
    else if (Math.abs(d) > opts.windowDays) excluded = `outside the ±${opts.windowDays}-day window (${days(d)})`;
    else if (opts.aoi && item.bbox && !intersects(item.bbox, opts.aoi)) excluded = 'footprint does not meet the AOI';
    return { item, role, d: Number.isFinite(d) ? d : NaN, clear: null, excluded };
  });
  const live = cands.filter((c) => !c.excluded);
  const fractions = await mapLimited(live, opts.concurrency ?? 4, (c) => opts.clearFraction(c.item));
  live.forEach((c, k) => {
    c.clear = fractions[k];
    if (!(c.clear >= minClear) || c.clear <= 0) c.excluded = c.clear <= 0 ? 'no clear pixels in the AOI' : `clear share ${pct(c.clear)} below the minimum ${pct(minClear)}`;
  });
  const befores = live.filter((c) => !c.excluded && c.role === 'before');
  const afters = live.filter((c) => !c.excluded && c.role === 'after');
  for (const [side, list] of [['before', befores], ['after', afters]] as const) {
    if (list.length === 0) {
      throw new StacError(`no usable scene ${side} the event`, {
        input: `${items.length} search results`,
        expected: `a scene with clear pixels in the AOI within ${opts.windowDays} days ${side} ${new Date(event).toISOString().slice(0, 10)}`,
        found: `${cands.filter((c) => c.role === side).length} candidates, none usable`,
        fix: 'Widen the window (--window-days), raise --max-cloud, or pass scenes yourself with --before/--after',
      });
    }
  }

  const sameOrbit = (a: Cand, b: Cand): boolean => a.item.relativeOrbit !== null && a.item.relativeOrbit === b.item.relativeOrbit;
  const sameTile = (a: Cand, b: Cand): boolean => a.item.tile !== null && a.item.tile === b.item.tile;
  const key = (b: Cand, a: Cand): number[] => [
    q(Math.min(b.clear!, a.clear!)),
    q((b.clear! + a.clear!) / 2),
    sameOrbit(b, a) ? 1 : 0,
    sameTile(b, a) ? 1 : 0,
    -(Math.abs(b.d) + Math.abs(a.d)),
  ];
  const better = (x: number[], y: number[]): boolean => {
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] > y[i];
    return false;
  };
  let best: [Cand, Cand] = [befores[0], afters[0]];
  let bestKey = key(best[0], best[1]);
  for (const b of befores) for (const a of afters) {
    const k = key(b, a);
    if (better(k, bestKey)) {
      best = [b, a];
      bestKey = k;
    }
  }
  const [cb, ca] = best;

  const rowFor = (c: Cand): PairRankingRow => {
    const chosen = c === cb || c === ca;
    const partner = c.role === 'before' ? ca : cb;
    let reason: string;
    if (c.excluded) reason = `excluded: ${c.excluded}`;
    else {
      const geo = [
        c.item.relativeOrbit !== null ? `${sameOrbit(c, partner) ? 'same' : 'different'} relative orbit (R${String(c.item.relativeOrbit).padStart(3, '0')})` : 'relative orbit unknown',
        c.item.tile !== null ? `${sameTile(c, partner) ? 'same' : 'different'} tile ${c.item.tile}` : 'tile unknown',
      ].join(', ');
      const facts = `clear ${pct(c.clear!)} of the AOI, ${geo}, ${days(c.d)}`;
      if (chosen) reason = `chosen: ${facts}`;
      else {
        const kMine = c.role === 'before' ? key(c, ca) : key(cb, c);
        const why = ['a clearer worst scene', 'a clearer pair on average', 'the same relative orbit', 'the same tile', 'dates closer to the event'];
        const i = kMine.findIndex((v, j) => v !== bestKey[j]);
        reason = `not chosen (${i >= 0 ? `the chosen pair has ${why[i]}` : 'tie, listed order kept'}): ${facts}`;
      }
    }
    return { id: c.item.id, role: c.role, clearFraction: c.clear, cloudCover: c.item.cloudCover, daysFromEvent: Math.round(c.d * 100) / 100, chosen, reason };
  };
  const ranking = cands
    .map(rowFor)
    .sort((x, y) =>
      x.role !== y.role ? (x.role === 'before' ? -1 : 1)
        : x.chosen !== y.chosen ? (x.chosen ? -1 : 1)
          : (y.clearFraction ?? -1) - (x.clearFraction ?? -1) || Math.abs(x.daysFromEvent) - Math.abs(y.daysFromEvent));
  return { before: cb.item, after: ca.item, ranking };
}
