/**
 * Gradient-boosted decision trees for binary classification: a histogram GBDT in the manner of LightGBM
 * (Ke et al. 2017) and scikit-learn's HistGradientBoostingClassifier. Pure: no I/O.
 *
 * - Features are binned once into at most `bins` quantile bins (NaN goes to bin 0, i.e. left of every split);
 * - logistic loss, Newton leaf values −G / (H + λ), shrinkage `learningRate`, start at the log-odds of the prior;
 * - depth-limited trees grown level by level; a node's histograms of (gradient, hessian, count) per feature and
 *   bin are built for the smaller child and the larger child's are the parent's minus the smaller's;
 * - each tree sees a seeded row subsample (`subsample`).
 *
 * Why by hand: no npm package both trains GBDT in Node 20 and is kept up (see docs/methods.md). Tested against
 * scikit-learn's HistGradientBoostingClassifier on the same data (tests/gbdt.test.ts).
 *
 * A trained model is plain JSON: each tree is flat arrays; a split sends x to the left child when x ≤ threshold
 * or x is NaN.
 */
import { seededRandom } from './sampling.js';

export interface GbdtParams {
  trees: number;
  maxDepth: number;
  learningRate: number;
  /** Histogram bins per feature (2..256). */
  bins: number;
  minSamplesLeaf: number;
  /** L2 regularisation λ of the leaf values. */
  l2: number;
  /** Fraction of rows each tree sees (0 < subsample ≤ 1). */
  subsample: number;
  seed: number;
}

export const DEFAULT_GBDT_PARAMS: GbdtParams = {
  trees: 150, maxDepth: 6, learningRate: 0.1, bins: 64, minSamplesLeaf: 40, l2: 1, subsample: 0.5, seed: 1,
};

/** One tree as flat arrays; node 0 is the root. `feature[k] = -1` marks a leaf whose value is `value[k]`. */
export interface GbdtTree {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  value: number[];
}

export interface GbdtModel {
  kind: 'gbdt-binary-logistic';
  nFeatures: number;
  /** Raw score every prediction starts from (log-odds of the training prior). */
  baseScore: number;
  params: GbdtParams;
  trees: GbdtTree[];
}

/** A row-major feature matrix: `data[row * nFeatures + feature]`. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  nFeatures: number;
}

/** Bin edges of each feature: up to bins − 1 ascending thresholds from the quantiles of its finite values. */
export function binEdges(x: Matrix, bins: number, maxRows = 200_000, seed = 7): Float64Array[] {
  const { data, rows, nFeatures: F } = x;
  const step = rows > maxRows ? rows / maxRows : 1;
  const pick: number[] = [];
  if (step === 1) for (let i = 0; i < rows; i++) pick.push(i);
  else { const rnd = seededRandom(seed); for (let i = 0; i < maxRows; i++) pick.push(Math.floor(rnd() * rows)); }
  const edges: Float64Array[] = [];
  const v = new Float64Array(pick.length);
  for (let f = 0; f < F; f++) {
    let m = 0;
    for (const r of pick) { const a = data[r * F + f]!; if (a === a) v[m++] = a; }
    const s = v.subarray(0, m).sort();
    const out: number[] = [];
    const distinct: number[] = [];
    for (let i = 0; i < m; i++) if (i === 0 || s[i] !== s[i - 1]) distinct.push(s[i]!);
    if (distinct.length <= bins) {
      for (let i = 0; i + 1 < distinct.length; i++) out.push((distinct[i]! + distinct[i + 1]!) / 2);
    } else {
      for (let b = 1; b < bins; b++) {
        const q = s[Math.min(m - 1, Math.floor((b * m) / bins))]!;
        if (!out.length || q > out[out.length - 1]!) out.push(q);
      }
    }
    edges.push(Float64Array.from(out));
  }
  return edges;
}

/** Bin of every value: the number of edges strictly below it (NaN → 0). Row-major like the input. */
export function binMatrix(x: Matrix, edges: Float64Array[]): Uint8Array {
  const { data, rows, nFeatures: F } = x;
  const out = new Uint8Array(rows * F);
  for (let f = 0; f < F; f++) {
    const e = edges[f]!;
    for (let r = 0; r < rows; r++) {
      const a = data[r * F + f]!;
      if (a !== a) continue;
      let lo = 0, hi = e.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (e[mid]! < a) lo = mid + 1; else hi = mid; }
      out[r * F + f] = lo;
    }
  }
  return out;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

interface Node { rows: Int32Array; depth: number; index: number; hist: Float64Array | null }

export interface TrainProgress { tree: number; trees: number }

/**
 * Train on `x` (rows × features) and labels `y` (0/1). `onTree` is called after each tree (for a progress bar).
 */
export function trainGbdt(x: Matrix, y: Uint8Array, params: Partial<GbdtParams> = {}, onTree?: (p: TrainProgress) => void): GbdtModel {
  const p: GbdtParams = { ...DEFAULT_GBDT_PARAMS, ...params };
  const { rows: n, nFeatures: F } = x;
  if (y.length !== n) throw new RangeError(`${y.length} labels for ${n} rows`);
  if (p.bins < 2 || p.bins > 256) throw new RangeError(`bins must be 2..256, got ${p.bins}`);
  if (!(p.subsample > 0 && p.subsample <= 1)) throw new RangeError(`subsample must be in (0, 1], got ${p.subsample}`);
  const edges = binEdges(x, p.bins, 200_000, p.seed);
  const X = binMatrix(x, edges);
  const B = p.bins;
  let pos = 0;
  for (let i = 0; i < n; i++) pos += y[i]!;
  const prior = Math.min(1 - 1e-6, Math.max(1e-6, pos / n));
  const baseScore = Math.log(prior / (1 - prior));
  const raw = new Float64Array(n).fill(baseScore);
  const g = new Float64Array(n), h = new Float64Array(n);
  const rnd = seededRandom(p.seed);
  const trees: GbdtTree[] = [];
  const all = new Int32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  const HS = F * B * 3;

  const buildHist = (rows: Int32Array): Float64Array => {
    const hist = new Float64Array(HS);
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k]!;
      const gr = g[r]!, hr = h[r]!;
      const o = r * F;
      for (let f = 0; f < F; f++) {
        const j = (f * B + X[o + f]!) * 3;
        hist[j]! += gr; hist[j + 1]! += hr; hist[j + 2]! += 1;
      }
    }
    return hist;
  };

  for (let t = 0; t < p.trees; t++) {
    for (let i = 0; i < n; i++) { const q = sigmoid(raw[i]!); g[i] = q - y[i]!; h[i] = Math.max(q * (1 - q), 1e-12); }
    let rowsT: Int32Array;
    if (p.subsample < 1) {
      const keep: number[] = [];
      for (let i = 0; i < n; i++) if (rnd() < p.subsample) keep.push(i);
      rowsT = Int32Array.from(keep);
    } else rowsT = all;
    const tree: GbdtTree = { feature: [], threshold: [], left: [], right: [], value: [] };
    const splitBin: number[] = [];
    const newNode = () => { tree.feature.push(-1); tree.threshold.push(0); tree.left.push(-1); tree.right.push(-1); tree.value.push(0); splitBin.push(0); return tree.feature.length - 1; };
    let level: Node[] = [{ rows: rowsT, depth: 0, index: newNode(), hist: buildHist(rowsT) }];
    while (level.length) {
      const next: Node[] = [];
      for (const node of level) {
        const hist = node.hist!;
        let G = 0, H = 0;
        for (let b = 0; b < B; b++) { G += hist[b * 3]!; H += hist[b * 3 + 1]!; }
        const cnt = node.rows.length;
        tree.value[node.index] = (-G / (H + p.l2)) * p.learningRate;
        if (node.depth >= p.maxDepth || cnt < 2 * p.minSamplesLeaf) { node.hist = null; continue; }
        const parentScore = (G * G) / (H + p.l2);
        let best = 0, bf = -1, bb = -1;
        for (let f = 0; f < F; f++) {
          let gl = 0, hl = 0, cl = 0;
          const o = f * B * 3;
          for (let b = 0; b < B - 1; b++) {
            gl += hist[o + b * 3]!; hl += hist[o + b * 3 + 1]!; cl += hist[o + b * 3 + 2]!;
            if (cl < p.minSamplesLeaf) continue;
            if (cnt - cl < p.minSamplesLeaf) break;
            const gr = G - gl, hr = H - hl;
            const gain = (gl * gl) / (hl + p.l2) + (gr * gr) / (hr + p.l2) - parentScore;
            if (gain > best + 1e-12) { best = gain; bf = f; bb = b; }
          }
        }
        if (bf < 0) { node.hist = null; continue; }
        const e = edges[bf]!;
        tree.feature[node.index] = bf;
        tree.threshold[node.index] = bb < e.length ? e[bb]! : Infinity;
        splitBin[node.index] = bb;
        const li = newNode(), ri = newNode();
        tree.left[node.index] = li; tree.right[node.index] = ri;
        let nl = 0;
        for (let k = 0; k < cnt; k++) if (X[node.rows[k]! * F + bf]! <= bb) nl++;
        const L = new Int32Array(nl), R = new Int32Array(cnt - nl);
        let a = 0, c = 0;
        for (let k = 0; k < cnt; k++) { const r = node.rows[k]!; if (X[r * F + bf]! <= bb) L[a++] = r; else R[c++] = r; }
        const small = nl <= cnt - nl ? L : R;
        const hs = buildHist(small);
        const hb = hist; // parent minus smaller child, in place
        for (let j = 0; j < HS; j++) hb[j]! -= hs[j]!;
        node.hist = null;
        next.push({ rows: L, depth: node.depth + 1, index: li, hist: small === L ? hs : hb });
        next.push({ rows: R, depth: node.depth + 1, index: ri, hist: small === L ? hb : hs });
      }
      level = next;
    }
    // update raw scores of every training row (binned traversal equals the threshold rule)
    for (let i = 0; i < n; i++) {
      let k = 0;
      while (tree.feature[k]! >= 0) k = X[i * F + tree.feature[k]!]! <= splitBin[k]! ? tree.left[k]! : tree.right[k]!;
      raw[i]! += tree.value[k]!;
    }
    trees.push(tree);
    onTree?.({ tree: t + 1, trees: p.trees });
  }
  return { kind: 'gbdt-binary-logistic', nFeatures: F, baseScore, params: p, trees };
}

/**
 * Change probability of every pixel from feature planes (one Float32Array per feature, each `n` long); pixels
 * where `mask` is 0 get NaN. Planes are read column-wise; no row-major copy is made.
 */
export function predictPlanes(model: GbdtModel, planes: readonly Float32Array[], mask?: Uint8Array, out?: Float32Array): Float32Array {
  if (planes.length !== model.nFeatures) throw new RangeError(`${planes.length} feature planes for a model of ${model.nFeatures} features`);
  const n = planes[0]?.length ?? 0;
  const o = out ?? new Float32Array(n);
  const raw = new Float64Array(n).fill(model.baseScore);
  for (const t of model.trees) {
    const { feature, threshold, left, right, value } = t;
    for (let i = 0; i < n; i++) {
      let k = 0;
      let f = feature[0]!;
      while (f >= 0) {
        const v = planes[f]![i]!;
        k = v <= threshold[k]! || v !== v ? left[k]! : right[k]!;
        f = feature[k]!;
      }
      raw[i]! += value[k]!;
    }
  }
  for (let i = 0; i < n; i++) o[i] = mask && !mask[i] ? NaN : sigmoid(raw[i]!);
  return o;
}

/** Probability of every row of a row-major matrix. */
export function predictMatrix(model: GbdtModel, x: Matrix): Float32Array {
  const { data, rows, nFeatures: F } = x;
  if (F !== model.nFeatures) throw new RangeError(`${F} features for a model of ${model.nFeatures}`);
  const out = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = model.baseScore;
    const o = i * F;
    for (const t of model.trees) {
      let k = 0;
      let f = t.feature[0]!;
      while (f >= 0) {
        const v = data[o + f]!;
        k = v <= t.threshold[k]! || v !== v ? t.left[k]! : t.right[k]!;
        f = t.feature[k]!;
      }
      s += t.value[k]!;
    }
    out[i] = sigmoid(s);
  }
  return out;
}
