#!/usr/bin/env node
/**
 * Runs the tutorials in docs/tutorials/ and checks (or updates) every figure and number in them.
 *
 *   node scripts/tutorials.mjs --check [--work DIR] [--only NAME]   (the test runs this: exit 1 on any mismatch)
 *   node scripts/tutorials.mjs --update [--work DIR] [--only NAME]  (rewrites the numbers, remakes the figures)
 *   --dir DIR: the tutorials folder (default docs/tutorials; the test points it at a tampered copy)
 *
 * Markers in the Markdown (invisible when rendered):
 *   <!-- run -->            before a ```sh block: every line starting with `s2change ` is run (as
 *                           `node dist/cli/main.js …`) in the work folder, with $S2CHANGE_DATA = the sample data
 *                           (default ../shared/data) and an empty model cache; `--overwrite` is added to detect.
 *                           `> FILE` at the end of a line writes the command's stdout to FILE in the work folder
 *                           (e.g. `s2change eval … --json > fire/eval.json`); a line ending in `# fails` may fail.
 *                           `view` lines are not run (interactive).
 *   <!-- figure: PATH -->   before an image line `![…](figures/NAME.png)`: PATH (relative to the work folder) is the
 *                           output the commands made; --update copies it to docs/tutorials/figures/NAME.png
 *                           (shrunk to fit 400 × 400 px, nearest neighbour so class colours stay pure, and written as
 *                           a palette PNG, to keep the repository small; smaller quicklooks keep their size),
 *                           --check remakes it and checks it exists and is a PNG of the same size as the committed one.
 *   <!-- histogram: SUMMARY -->  before an image line `![…](figures/NAME.png)`: draws the index histogram of the
 *                           run's SUMMARY (summary.json `indexHistogram`: bins, thresholds, class rules; the same
 *                           drawing as report.html, from dist/report/report-svg.js) as SVG, renders it to PNG with
 *                           sharp into the work folder; --update copies it to figures/NAME.png, --check compares sizes.
 *   <!--= FILE PATH D -->N  the number N must equal the value at PATH in the JSON FILE (relative to the work
 *                           folder), rounded to D decimals. PATH: dot-separated keys, `[key=value]` picks an array
 *                           element, `[key=a|b|c]` keeps the elements whose key is one of those values (an
 *                           array), `sum(key)` sums a key over an array: `areas[value=1|2|3|4].sum(hectares)`. --update rewrites N.
 * Within a tutorial the blocks run in order and a later block may read an earlier block's outputs; the tutorials
 * themselves run two at a time in one shared work folder, so each must name its own output folders and files.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(REPO, 'dist', 'cli', 'main.js');
const args = process.argv.slice(2);
const mode = args.includes('--update') ? 'update' : 'check';
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const DIR = path.resolve(opt('--dir') ?? path.join(REPO, 'docs', 'tutorials'));
const FIG = path.join(DIR, 'figures');
const work = path.resolve(opt('--work') ?? mkdtempSync(path.join(os.tmpdir(), 's2change-tutorials-')));
const only = opt('--only');
const FIGURE_MAX = 400; // px: the longest side of a committed quicklook figure
const run = promisify(execFile);
const DATA = process.env.S2CHANGE_DATA ?? path.resolve(REPO, '..', 'shared', 'data');
mkdirSync(work, { recursive: true });

const env = { ...process.env, S2CHANGE_DATA: DATA, S2CHANGE_CACHE: path.join(work, '.no-model-cache') };
const problems = [];

/** Split a shell line into words (double and single quotes; no expansions but $S2CHANGE_DATA). */
function words(line) {
  const out = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(line))) out.push((m[1] ?? m[2] ?? m[3]).replace(/\$S2CHANGE_DATA|\$\{S2CHANGE_DATA\}/g, DATA));
  return out;
}

async function runBlock(block, file) {
  const lines = block.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  let joined = [];
  for (const l of lines) {
    if (joined.length && joined.at(-1).endsWith('\\')) joined[joined.length - 1] = `${joined.at(-1).slice(0, -1)} ${l}`;
    else joined.push(l);
  }
  for (const line of joined) {
    const w = words(line.replace(/\s+#.*$/, ''));
    if (w[0] !== 's2change') continue;
    let stdoutFile;
    const gt = w.indexOf('>');
    if (gt >= 0) { stdoutFile = w[gt + 1]; w.splice(gt); }
    const argv = w.slice(1);
    if (argv[0] === 'detect' && !argv.includes('--overwrite')) argv.push('--overwrite');
    if (argv[0] === 'view') continue; // interactive: the viewer's screenshot comes from its own browser test
    process.stderr.write(`[${path.basename(file)}] s2change ${argv.join(' ')}\n`);
    try {
      const { stdout: out } = await run(process.execPath, [CLI, ...argv], { cwd: work, env, maxBuffer: 64 << 20, encoding: 'buffer' });
      if (stdoutFile) writeFileSync(path.join(work, stdoutFile), out);
    } catch (err) {
      // a command the tutorial shows failing on purpose is marked "# fails" in the text
      if (/#\s*fails/.test(line)) continue;
      problems.push(`${path.basename(file)}: command failed: s2change ${argv.join(' ')}\n${String(err.stderr ?? err.message).slice(0, 2000)}`);
    }
  }
}

function lookup(json, p) {
  let v = json;
  for (const part of p.split('.')) {
    if (v === undefined || v === null) return undefined;
    const sum = /^sum\((\w+)\)$/.exec(part);
    const pick = /^(\w*)\[(\w+)=([^\]]+)\]$/.exec(part);
    if (sum) v = v.reduce((s, e) => s + Number(e[sum[1]] ?? 0), 0);
    else if (pick) {
      const arr = pick[1] ? v[pick[1]] : v;
      const wanted = pick[3].split('|');
      if (!Array.isArray(arr)) v = undefined;
      else if (wanted.length > 1) v = arr.filter((e) => wanted.includes(String(e[pick[2]])));
      else v = arr.find((e) => String(e[pick[2]]) === pick[3]);
    } else v = v[part];
  }
  return v;
}

function pngSize(file) {
  const b = readFileSync(file);
  if (b.length < 24 || b.readUInt32BE(12) !== 0x49484452) return null; // IHDR
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

const { histogramSvg } = await import(pathToFileURL(path.join(REPO, 'dist', 'report', 'report-svg.js')).href);

/** Draw the index histogram of a run's summary.json as a PNG (white background, 720×250 drawn at 1.5×). */
async function histogramPng(summaryFile, pngFile) {
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
  const h = summary.indexHistogram;
  if (!h) throw new Error(`${summaryFile} has no indexHistogram`);
  const colours = Object.fromEntries((summary.classes ?? []).map((c) => [c.value, c.colour]));
  const svg = histogramSvg(h, colours);
  if (!svg) throw new Error(`${summaryFile}: the index histogram is empty`);
  const sized = svg.replace('<svg ', '<svg width="1080" height="375" ').replace(/(<svg[^>]*>)/, '$1<rect width="100%" height="100%" fill="#fff"/>');
  await sharp(Buffer.from(sized)).png({ compressionLevel: 9 }).toFile(pngFile);
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.md') && f !== 'README.md' && (!only || f.startsWith(only))).sort();
mkdirSync(FIG, { recursive: true });
// 1. run each tutorial's commands in order, two tutorials at a time
const queue = [...files];
async function runner() {
  for (let name = queue.shift(); name; name = queue.shift()) {
    const file = path.join(DIR, name);
    for (const m of readFileSync(file, 'utf8').matchAll(/<!-- run -->\s*\n```(?:sh|bash)?\n([\s\S]*?)```/g)) await runBlock(m[1], file);
  }
}
await Promise.all([runner(), runner()]);
for (const name of files) {
  const file = path.join(DIR, name);
  let text = readFileSync(file, 'utf8');
  // 2. figures
  for (const m of text.matchAll(/<!-- figure: (\S+) -->\s*\n!\[[^\]]*\]\(figures\/([^)]+)\)/g)) {
    const made = path.join(work, m[1]);
    const committed = path.join(FIG, m[2]);
    if (!existsSync(made)) { problems.push(`${name}: the commands did not make ${m[1]} (figure ${m[2]})`); continue; }
    const shrunk = path.join(work, `figure-${m[2]}`);
    await sharp(made).resize({ width: FIGURE_MAX, height: FIGURE_MAX, fit: 'inside', withoutEnlargement: true, kernel: 'nearest' })
      .png({ palette: true, effort: 10 }).toFile(shrunk);
    if (mode === 'update') writeFileSync(committed, readFileSync(shrunk));
    else if (!existsSync(committed)) problems.push(`${name}: figure ${m[2]} is not committed (run --update)`);
    else if (JSON.stringify(pngSize(shrunk)) !== JSON.stringify(pngSize(committed))) {
      problems.push(`${name}: figure ${m[2]} remade at ${pngSize(shrunk)} px, committed ${pngSize(committed)} px (run --update)`);
    }
  }
  for (const m of text.matchAll(/<!-- histogram: (\S+) -->\s*\n!\[[^\]]*\]\(figures\/([^)]+)\)/g)) {
    const summaryFile = path.join(work, m[1]);
    const made = path.join(work, `histogram-${m[2]}`);
    const committed = path.join(FIG, m[2]);
    if (!existsSync(summaryFile)) { problems.push(`${name}: the commands did not make ${m[1]} (histogram ${m[2]})`); continue; }
    try { await histogramPng(summaryFile, made); } catch (err) { problems.push(`${name}: histogram ${m[2]}: ${err.message}`); continue; }
    if (mode === 'update') writeFileSync(committed, readFileSync(made));
    else if (!existsSync(committed)) problems.push(`${name}: figure ${m[2]} is not committed (run --update)`);
    else if (JSON.stringify(pngSize(made)) !== JSON.stringify(pngSize(committed))) {
      problems.push(`${name}: figure ${m[2]} remade at ${pngSize(made)} px, committed ${pngSize(committed)} px (run --update)`);
    }
  }
  // 3. numbers
  text = text.replace(/<!--= (\S+) (\S+) (\d+) -->(\*{0,2})(-?[\d,]*\.?\d+|\?)(\*{0,2})/g, (all, jf, jp, digits, pre, num, post) => {
    const f = path.join(work, jf);
    if (!existsSync(f)) { problems.push(`${name}: ${jf} was not made (number for ${jp})`); return all; }
    const v = lookup(JSON.parse(readFileSync(f, 'utf8')), jp);
    if (typeof v !== 'number' || !Number.isFinite(v)) { problems.push(`${name}: ${jf} ${jp} is not a number (${JSON.stringify(v)})`); return all; }
    const want = v.toFixed(Number(digits));
    if (mode === 'update') return `<!--= ${jf} ${jp} ${digits} -->${pre}${want}${post}`;
    if (num.replace(/,/g, '') !== want) problems.push(`${name}: the text says ${num} for ${jf} ${jp}, the run gives ${want}`);
    return all;
  });
  if (mode === 'update') writeFileSync(file, text);
}

if (problems.length) {
  process.stderr.write(`\n${problems.length} problem(s) in the tutorials:\n${problems.map((p) => `- ${p}`).join('\n')}\n`);
  process.exit(1);
}
process.stderr.write(`tutorials ${mode === 'update' ? 'updated' : 'checked'}: ${files.join(', ')} (work folder ${work})\n`);
