/**
 * Per-pixel class rules as data: an ordered list of comparisons of one value against bounds. Pure.
 *
 * The first rule whose comparison holds gives the class; when none holds (NaN holds none) the class is `otherwise`.
 * Presets state their thresholds this way once; the whole-array path applies them with `classByRules`, and the
 * block engine's WebAssembly kernel reads the same rules, so both classify identically by construction.
 */

export type RuleComparison = '<' | '<=' | '>=' | '>';

export interface ClassRule {
  op: RuleComparison;
  bound: number;
  value: number;
}

export interface ClassRules {
  rules: readonly ClassRule[];
  otherwise: number;
}

/** The class of value `d` under `r`. */
export function classByRules(r: ClassRules, d: number): number {
  for (const { op, bound, value } of r.rules) {
    if (op === '<' ? d < bound : op === '<=' ? d <= bound : op === '>=' ? d >= bound : d > bound) return value;
  }
  return r.otherwise;
}

/** Classes of every value of `values` under `r`, into `out`. */
export function classesByRules(r: ClassRules, values: Float32Array, out: Uint8Array): Uint8Array {
  for (let i = 0; i < values.length; i++) out[i] = classByRules(r, values[i]!);
  return out;
}
