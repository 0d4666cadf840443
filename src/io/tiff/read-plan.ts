/**
 * How a window's tiles are fetched: byte ranges that are close together (a COG stores its tiles contiguously) are
 * merged into one read, and the merged reads run with bounded concurrency, so an HTTP source makes few requests.
 */

/** A byte range wanted for `item`. */
export interface WantedRange<T> {
  offset: number;
  length: number;
  item: T;
}

/** One read covering several wanted ranges (sorted by offset). */
export interface RangeGroup<T> {
  offset: number;
  length: number;
  members: WantedRange<T>[];
}

/**
 * Merge ranges into reads: sorted by offset, a range joins the previous read when the gap between them is at most
 * `maxGap` bytes and the merged read stays within `maxBytes` (a single range longer than that is read alone).
 * Overlapping and duplicate ranges share one read. Every range lies inside exactly one group.
 */
export function coalesceRanges<T>(ranges: WantedRange<T>[], maxGap: number, maxBytes: number): RangeGroup<T>[] {
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset || a.length - b.length);
  const groups: RangeGroup<T>[] = [];
  let cur: RangeGroup<T> | null = null;
  for (const r of sorted) {
    const end = r.offset + r.length;
    if (cur !== null) {
      const curEnd = cur.offset + cur.length;
      const merged = Math.max(curEnd, end) - cur.offset;
      if (r.offset - curEnd <= maxGap && merged <= maxBytes) {
        cur.length = merged;
        cur.members.push(r);
        continue;
      }
    }
    cur = { offset: r.offset, length: r.length, members: [r] };
    groups.push(cur);
  }
  return groups;
}

/**
 * Run `fn` over `items` with at most `limit` calls in flight. Rejects with the first error; after an error no
 * further items are started.
 */
export async function forEachConcurrent<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const runner = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, runner));
}
