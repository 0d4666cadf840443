/**
 * Loading the WebAssembly modules that `npm run build:wasm` compiles from `wasm/*.ts` into `dist/wasm/`: one instance
 * per module and thread, made on first use. Each module's memory is the caller's scratch space.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The part of the WebAssembly JS API used here (@types/node 20 and lib ES2022 do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: object };
};

/** What every module built with `--runtime stub` exports. */
export interface WasmMemoryExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
}

/** Where the built modules are: beside the compiled code (dist/io → dist/wasm) or, from sources, in dist/. */
const CANDIDATES = ['../wasm/', '../../dist/wasm/'];

const instances = new Map<string, object | null>();

/** The exports of `dist/wasm/<name>.wasm` in this thread, or null when it has not been built. */
export function tryLoadWasm<T extends WasmMemoryExports>(name: string): T | null {
  if (instances.has(name)) return instances.get(name) as T | null;
  let found: object | null = null;
  for (const dir of CANDIDATES) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(fileURLToPath(new URL(`${dir}${name}.wasm`, import.meta.url)));
    } catch {
      continue;
    }
    found = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      env: { abort: () => { throw new Error(`internal: the WebAssembly module ${name} aborted`); } },
    }).exports;
    break;
  }
  instances.set(name, found);
  return found as T | null;
}

/** The exports of `dist/wasm/<name>.wasm`; throws when the module has not been built. */
export function loadWasm<T extends WasmMemoryExports>(name: string): T {
  const k = tryLoadWasm<T>(name);
  if (!k) throw new Error(`internal: dist/wasm/${name}.wasm is missing; run \`npm run build\` (it compiles wasm/${name}.ts)`);
  return k;
}

/** Grow `k`'s memory to at least `bytes` bytes; returns its (possibly new) buffer. Views made before are stale. */
export function ensureWasmMemory(k: WasmMemoryExports, bytes: number): ArrayBuffer {
  const have = k.memory.buffer.byteLength;
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / 65536));
  return k.memory.buffer;
}
