/**
 * Accuracy of a binary change map against reference labels. Pure.
 *
 * Conventions:
 * - A truth pixel counts only when its value is in `truthChange` or `truthNoChange`; values listed in `ignore`
 *   are skipped; any other value is an error (no silent guess about a label coding).
 * - A prediction of `predInvalid` (default 255) on a labelled pixel is counted as "no change" by default, so a
 *   method cannot score better by masking pixels out; their number is reported in `predInvalid`. Pass
 *   `predInvalidAs: 'ignore'` to drop them instead.
 * - Scores whose denominator is 0 are NaN (e.g. precision with no predicted change); see {@link scores}.
 */
import { LabelMismatchError } from '../errors.js';

/** A set of label values: a list, a Set, or a predicate. */
export type ValueTest = readonly number[] | ReadonlySet<number> | ((v: number) => boolean);

export interface ConfusionOptions {
  /** Truth values that mean change, e.g. [2] for OSCD `*-cm.tif`, [255] for 0/255 masks. */
  truthChange: ValueTest;
  /** Truth values that mean no change, e.g. [1] for OSCD `*-cm.tif`, [0] for 0/255 masks. */
  truthNoChange: ValueTest;
  /** Truth values to skip (unlabelled, nodata). Default none. */
  ignore?: ValueTest;
  /** Prediction values that mean change (default [1]); all other valid predictions mean no change. */
  predChange?: ValueTest;
  /** Prediction values that mean "could not tell" (default [255]). */
  predInvalid?: ValueTest;
  /** What an invalid prediction on a labelled pixel counts as (default 'noChange'). */
  predInvalidAs?: 'noChange' | 'ignore';
  /** Name of the label input, for error messages. */
  name?: string;
}

export interface ConfusionMatrix {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  /** Labelled pixels where the prediction was invalid (counted per `predInvalidAs`). */
  predInvalid?: number;
  /** Truth pixels skipped through `ignore`. */
  ignored?: number;
}

export interface Scores {
  /** tp / (tp + fp). */
  precision: number;
  /** tp / (tp + fn). */
  recall: number;
  /** 2tp / (2tp + fp + fn), the harmonic mean of precision and recall. */
  f1: number;
  /** tp / (tp + fp + fn), intersection over union of the change class (Jaccard). */
  iou: number;
  /** (tp + tn) / N. */
  overallAccuracy: number;
  /** Cohen's (1960) kappa: (p_o − p_e) / (1 − p_e). */
  kappa: number;
}

/** Common label codings. */
export const LABEL_CODINGS = {
  /** OSCD `<city>-cm.tif`: 1 = no change, 2 = change. */
  oscdTif: { truthChange: [2], truthNoChange: [1] },
  /** 8-bit masks such as OSCD `cm.png` or OMBRIA `gt_*.png`: 0 = no change, 255 = change. */
  mask0255: { truthChange: [255], truthNoChange: [0] },
  /** 0 = no change, 1 = change. */
  binary01: { truthChange: [1], truthNoChange: [0] },
} as const satisfies Record<string, Pick<ConfusionOptions, 'truthChange' | 'truthNoChange'>>;

/** A 256-entry lookup table for a ValueTest over uint8 values. */
function lut(test: ValueTest | undefined): Uint8Array {
  const t = new Uint8Array(256);
  if (!test) return t;
  for (let v = 0; v < 256; v++) {
    t[v] = (typeof test === 'function' ? test(v) : 'has' in test ? test.has(v) : test.includes(v)) ? 1 : 0;
  }
  return t;
}

/**
 * Confusion matrix of a change prediction against truth labels of the same size.
 *
 * @example
 * confusionMatrix(pred, oscdLabels, LABEL_CODINGS.oscdTif) // { tp, fp, fn, tn, predInvalid, ignored }
 */
export function confusionMatrix(pred: Uint8Array, truth: Uint8Array, opts: ConfusionOptions): ConfusionMatrix {
  const name = opts.name ?? 'labels';
  if (pred.length !== truth.length) {
    throw new LabelMismatchError('prediction and labels have different sizes', {
      input: name,
      expected: `${pred.length} pixels (the prediction's grid)`,
      found: `${truth.length} pixels`,
      fix: 'Resample the labels to the prediction grid (resampleLabelsNearest) or crop both to the same window',
    });
  }
  const tChange = lut(opts.truthChange);
  const tNo = lut(opts.truthNoChange);
  const tIgnore = lut(opts.ignore);
  const pChange = lut(opts.predChange ?? [1]);
  const pInvalid = lut(opts.predInvalid ?? [255]);
  for (let v = 0; v < 256; v++) {
    if (tChange[v] && tNo[v]) {
      throw new LabelMismatchError('a label value is both change and no change', { input: name, found: `value ${v} in truthChange and truthNoChange`, fix: 'Fix the label coding' });
    }
  }
  const dropInvalid = opts.predInvalidAs === 'ignore';
  let tp = 0, fp = 0, fn = 0, tn = 0, invalid = 0, ignored = 0;
  const unexpected = new Map<number, number>();
  for (let i = 0; i < pred.length; i++) {
    const t = truth[i]!;
    const isChange = tChange[t] === 1;
    if (!isChange && tNo[t] !== 1) {
      if (tIgnore[t]) ignored++;
      else unexpected.set(t, (unexpected.get(t) ?? 0) + 1);
      continue;
    }
    const p = pred[i]!;
    if (pInvalid[p]) {
      invalid++;
      if (dropInvalid) continue;
    }
    const predicted = pChange[p] === 1 && !pInvalid[p];
    if (predicted) isChange ? tp++ : fp++;
    else isChange ? fn++ : tn++;
  }
  if (unexpected.size > 0) {
    const list = [...unexpected].sort((a, b) => a[0] - b[0]).slice(0, 8).map(([v, c]) => `${v} (${c} px)`).join(', ');
    throw new LabelMismatchError('labels hold values that are neither change nor no change', {
      input: name,
      expected: 'only values listed in truthChange, truthNoChange or ignore',
      found: list,
      fix: 'Name the label coding (e.g. LABEL_CODINGS.oscdTif: 1 = no change, 2 = change) and list nodata values in ignore',
    });
  }
  return { tp, fp, fn, tn, predInvalid: invalid, ignored };
}

const ratio = (a: number, b: number): number => (b === 0 ? NaN : a / b);

/**
 * Scores of a confusion matrix. A score whose denominator is 0 is NaN: precision with no predicted change,
 * recall with no true change, F1 and IoU when tp + fp + fn = 0 (nothing changed and nothing was predicted),
 * everything for an empty matrix, and kappa when p_e = 1 (all pixels in one class in both maps).
 */
export function scores(cm: ConfusionMatrix): Scores {
  const { tp, fp, fn, tn } = cm;
  const n = tp + fp + fn + tn;
  const po = ratio(tp + tn, n);
  const pe = ratio((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn), n * n);
  return {
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    iou: ratio(tp, tp + fp + fn),
    overallAccuracy: po,
    kappa: pe === 1 ? NaN : ratio(po - pe, 1 - pe),
  };
}

/** Sum of confusion matrices (pooled over items, as OSCD reports its scores). */
export function aggregate(cms: readonly ConfusionMatrix[]): ConfusionMatrix {
  const s = { tp: 0, fp: 0, fn: 0, tn: 0, predInvalid: 0, ignored: 0 };
  for (const c of cms) {
    s.tp += c.tp;
    s.fp += c.fp;
    s.fn += c.fn;
    s.tn += c.tn;
    s.predInvalid += c.predInvalid ?? 0;
    s.ignored += c.ignored ?? 0;
  }
  return s;
}

/**
 * Mean of the per-item scores (macro average). Items where a score is NaN are left out of that score's mean;
 * `counts` says how many items each mean is over (a mean over 0 items is NaN).
 */
export function meanScores(cms: readonly ConfusionMatrix[]): Scores & { counts: Record<keyof Scores, number> } {
  const keys = ['precision', 'recall', 'f1', 'iou', 'overallAccuracy', 'kappa'] as const;
  const sum = Object.fromEntries(keys.map((k) => [k, 0])) as Record<keyof Scores, number>;
  const counts = Object.fromEntries(keys.map((k) => [k, 0])) as Record<keyof Scores, number>;
  for (const cm of cms) {
    const s = scores(cm);
    for (const k of keys) {
      if (Number.isNaN(s[k])) continue;
      sum[k] += s[k];
      counts[k]++;
    }
  }
  const mean = Object.fromEntries(keys.map((k) => [k, counts[k] === 0 ? NaN : sum[k] / counts[k]])) as unknown as Scores;
  return { ...mean, counts };
}
