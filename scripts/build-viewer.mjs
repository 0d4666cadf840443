// Bundle the `s2change view` page (viewer/) with esbuild into dist/viewer: index.html, viewer.js, viewer.css.
// No CDN: OpenLayers, geotiff.js and proj4 are bundled; the server's CSP allows scripts from the server only.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'viewer');
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: { viewer: path.join(root, 'viewer', 'main.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
await copyFile(path.join(root, 'viewer', 'index.html'), path.join(out, 'index.html'));
