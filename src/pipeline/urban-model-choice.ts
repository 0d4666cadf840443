/**
 * Which urban model a `detect --preset urban` run uses, and what it says about it:
 *
 * - `--model FILE` (an s2change urban model): the learned model, method 'learned';
 * - else `urban-model.json` in the cache directory ({@link userCacheDir}): the learned model, found automatically;
 * - else the best unsupervised method ({@link URBAN_UNSUPERVISED_METHOD}) with a note saying what accuracy to expect
 *   and how to train a model in one command.
 *
 * The model used is named in summary.json (`urbanModel`: path, SHA-256, version, training cities, leave-one-city-out
 * score) and in the report. A missing or malformed model file is a {@link ModelError} naming the file and the fix.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { openRegularFile } from '../io/local-file.js';
import { userCacheDir } from '../io/cache-dir.js';
import path from 'node:path';
import { ModelError, S2ChangeError, UsageError } from '../errors.js';
import type { ChangeMethod } from '../change/presets/types.js';
import { URBAN_UNSUPERVISED_METHOD, URBAN_UNSUPERVISED_OSCD_F1 } from '../change/presets/urban.js';
import { parseUrbanModel, URBAN_MODEL_FORMAT, type UrbanModel } from '../change/urban-model.js';

/** File name of the urban model in the cache directory. */
export const URBAN_MODEL_FILE = 'urban-model.json';

/** The one command that trains the urban model on the OSCD sample data (run from the repository folder). */
export const TRAIN_URBAN_MODEL_COMMAND =
  's2change bench accuracy --dataset oscd --root ../shared/data/oscd --root ../shared/data/oscd-test --train urban-model.json';


/** The learned model a run used, as summary.json names it. */
export interface UrbanModelInfo {
  /** Absolute path of the model file. */
  path: string;
  /** How it was chosen: `--model`, or found in the cache directory. */
  foundBy: 'option' | 'cache';
  sha256: string;
  format: string;
  version: number;
  createdBy: string;
  createdAt: string;
  trainingCities: string[];
  /** Leave-one-city-out pooled score over the training cities, as the model file records it (null: not computed). */
  looScore: { protocol: string; precision: number; recall: number; f1: number } | null;
  labelLicence: string;
}

/** The outcome: the method, the model (method 'learned'), what summary.json names, and notes for the report. */
export interface UrbanModelChoice {
  method: ChangeMethod;
  model?: UrbanModel;
  info: UrbanModelInfo | null;
  notes: string[];
}

/** The note of a run without a learned model: what to expect and how to train one. */
export function noModelNote(method: ChangeMethod, cacheFile: string): string {
  const expect = URBAN_UNSUPERVISED_OSCD_F1[method] ?? 'the OSCD scores';
  return `No learned urban model (--model FILE, or ${cacheFile}): this map uses the unsupervised method "${method}", `
    + `which reaches ${expect} (docs/ACCURACY.md) — a screening map, not a measurement of construction. `
    + `Train a model in one command (about 3 minutes on 2 cores): ${TRAIN_URBAN_MODEL_COMMAND}; `
    + `then pass --model urban-model.json, or copy it to ${cacheFile} to have it used automatically.`;
}

/** Read, parse and check an urban model file; a missing or malformed file is a ModelError naming it and the fix. */
export async function loadUrbanModel(file: string, foundBy: 'option' | 'cache'): Promise<{ model: UrbanModel; info: UrbanModelInfo }> {
  const abs = path.resolve(file);
  let bytes: Buffer;
  try {
    const fh = await openRegularFile(abs, `a ${URBAN_MODEL_FORMAT} JSON file`); // a FIFO or device is refused, never read
    try {
      bytes = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof S2ChangeError && err.code !== 'INPUT_NOT_FOUND') throw err; // e.g. a FIFO: INVALID_INPUT
    const code = err instanceof S2ChangeError ? 'ENOENT' : (err as NodeJS.ErrnoException).code;
    throw new ModelError(code === 'ENOENT' ? 'the model file does not exist' : 'the model file cannot be read', {
      input: abs, expected: `a ${URBAN_MODEL_FORMAT} JSON file`, found: code ?? (err as Error).message,
      fix: `Train one with: ${TRAIN_URBAN_MODEL_COMMAND}`, cause: err,
    });
  }
  const model = parseUrbanModel(bytes.toString('utf8'), foundBy === 'cache' ? `${abs} (found in the cache directory; delete it to run without)` : abs);
  const pooled = model.scores?.pooled;
  return {
    model,
    info: {
      path: abs, foundBy, sha256: createHash('sha256').update(bytes).digest('hex'),
      format: model.format, version: model.version, createdBy: model.createdBy, createdAt: model.createdAt,
      trainingCities: [...model.training.cities],
      looScore: pooled && model.scores ? { protocol: model.scores.protocol, precision: pooled.precision, recall: pooled.recall, f1: pooled.f1 } : null,
      labelLicence: model.labelLicence,
    },
  };
}

/** True when a JSON text is an urban model file (rather than the random forest of `--method supervised`). */
export function isUrbanModelText(text: string): boolean {
  try {
    const v = JSON.parse(text) as { format?: unknown };
    return typeof v === 'object' && v !== null && v.format === URBAN_MODEL_FORMAT;
  } catch {
    return false;
  }
}

/**
 * The model and method of an urban run. `method`: the user's --method (undefined: none); `modelPath`: --model.
 * An explicit unsupervised method runs without a model and without a note; 'supervised' is not handled here.
 */
export async function chooseUrbanModel(args: { method?: ChangeMethod; modelPath?: string; env?: NodeJS.ProcessEnv }): Promise<UrbanModelChoice> {
  const { method, modelPath } = args;
  const cacheFile = path.join(userCacheDir(args.env), URBAN_MODEL_FILE);
  if (modelPath !== undefined) {
    if (method !== undefined && method !== 'learned') {
      throw new UsageError('--model is the learned urban model; it does not combine with another method', {
        input: `--model ${modelPath} --method ${method}`, expected: '--model FILE alone (or with --method learned)', found: `--method ${method}`,
        fix: `Drop --method ${method} to use the model, or drop --model to run ${method}`,
      });
    }
    const { model, info } = await loadUrbanModel(modelPath, 'option');
    return { method: 'learned', model, info, notes: [] };
  }
  if (method !== undefined && method !== 'learned') return { method, info: null, notes: [] };
  if (await stat(cacheFile).then((st) => st.isFile(), () => false)) {
    const { model, info } = await loadUrbanModel(cacheFile, 'cache');
    return { method: 'learned', model, info, notes: [] };
  }
  if (method === 'learned') {
    throw new ModelError('method "learned" needs a trained urban model', {
      input: '--method learned', expected: `--model FILE, or ${cacheFile}`, found: 'neither',
      fix: `Train one with: ${TRAIN_URBAN_MODEL_COMMAND}`,
    });
  }
  return { method: URBAN_UNSUPERVISED_METHOD, info: null, notes: [noModelNote(URBAN_UNSUPERVISED_METHOD, cacheFile)] };
}

/** What a run needs to know about its urban model, filled in by {@link withUrbanModel}. */
export interface UrbanModelOptions {
  preset: string;
  method?: ChangeMethod;
  /** `--model FILE` of an urban run. */
  urbanModelPath?: string;
  urbanModel?: UrbanModel;
  urbanModelSource?: string;
  /** The model used (null: none); undefined until {@link withUrbanModel} ran. */
  urbanModelInfo?: UrbanModelInfo | null;
  /** Notes for summary.json and the report (the no-model note). */
  notes?: string[];
}

/**
 * Options with the urban model chosen (an urban run whose model is not chosen yet, method 'supervised' aside);
 * other runs unchanged.
 */
export async function withUrbanModel<T extends UrbanModelOptions>(opts: T, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  if (opts.preset !== 'urban' || opts.urbanModelInfo !== undefined || opts.method === 'supervised') return opts;
  // A model given as a value (an API caller): used as it is; there is no file to name.
  if (opts.urbanModel) return { ...opts, method: opts.method ?? 'learned', urbanModelInfo: null };
  const choice = await chooseUrbanModel({ method: opts.method, modelPath: opts.urbanModelPath, env });
  return {
    ...opts, method: choice.method, urbanModel: choice.model, urbanModelSource: choice.info?.path, urbanModelInfo: choice.info,
    notes: [...(opts.notes ?? []), ...choice.notes],
  };
}
