#!/usr/bin/env node
/**
 * The s2change command line. Thin: parses options, calls the pipeline, prints. Logs and progress go to stderr,
 * `--json` results to stdout. Exit codes: 0 success, 1 data/runtime error, 2 usage error.
 *
 * Start-up: every command is defined on every run, so the command files import statically only commander, the
 * option parsers, errors and small constant tables (and types); what a command runs on is imported with
 * `await import(...)` at the top of its action (or of the async helper that needs it, e.g. `remoteOptions`).
 * `--version`, `--help` and each command then load only what they use: detect's start-up is on the clock of the
 * whole-tile benchmark. tests/cli-startup.test.ts guards this.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { S2ChangeError } from '../errors.js';
import { INDICES } from '../indices/registry.js';
import { registerDetect } from './detect-command.js';
import { registerDemo } from './demo-command.js';
import { registerInfo } from './info-command.js';
import { registerVerify } from './verify-command.js';
import { registerEval } from './eval-command.js';
import { registerSearch } from './search-command.js';
import { registerPair } from './pair-command.js';
import { registerBench } from './bench-command.js';
import { registerBenchAccuracy } from './bench-accuracy-command.js';
import { registerBatch } from './batch-command.js';
import { registerView } from './view-command.js';
import { applyHelp } from './help.js';
import { VERSION } from '../version.js';
import { installRunTimeLimit, refuseEmptyOptionValues } from './options.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('s2change')
    .description('Map what changed between two Sentinel-2 scenes: floods, burn scars, urban growth, vegetation loss, generic change.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  refuseEmptyOptionValues(program); // --out '', --bbox '', --bands '' … are usage errors, for every command
  installRunTimeLimit(program); // --max-time of detect, demo, search, pair
  registerDemo(program);
  registerDetect(program);
  registerInfo(program);
  registerEval(program);
  registerVerify(program);
  registerSearch(program);
  registerPair(program);
  registerView(program);
  registerBenchAccuracy(registerBench(program));
  registerBatch(program);

  program
    .command('indices')
    .description('the spectral index catalogue: name, formula, bands, what it measures, reference')
    .option('--json', 'machine-readable output on stdout')
    .action((o: { json?: boolean }) => {
      const rows = INDICES.map(({ name, longName, formula, bands, measures, range, reference }) => ({ name, longName, formula, bands, measures, range, reference }));
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ indices: rows }, null, 2)}\n`);
        return;
      }
      for (const r of rows) {
        process.stdout.write(`${r.name.padEnd(6)} ${r.longName}\n       ${r.formula}   [${r.range.join(', ')}]\n       ${r.measures}\n       ${r.reference}\n\n`);
      }
    });

  program
    .command('presets')
    .description('the change presets and their classes')
    .option('--json', 'machine-readable output on stdout')
    .action(async (o: { json?: boolean }) => {
      const { PRESETS } = await import('../change/presets/index.js');
      const rows = PRESETS.map((p) => ({ name: p.name, title: p.title, description: p.description, methods: p.methods, defaultMethod: p.defaultMethod, classes: p.classes }));
      if (o.json) process.stdout.write(`${JSON.stringify({ presets: rows }, null, 2)}\n`);
      else for (const r of rows) process.stdout.write(`${r.name.padEnd(11)} ${r.title} (methods: ${r.methods.join(', ')}; default ${r.defaultMethod})\n`);
    });
  applyHelp(program);
  return program;
}

/** Run the CLI with `argv`; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // a command that finished its work but must report failure (batch with failed jobs) sets process.exitCode
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Help and --version end with exit code 0; everything else commander rejects is a usage error.
    if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    return 2;
  }
  if (err instanceof S2ChangeError) {
    process.stderr.write(`s2change: error [${err.code}]: ${err.message}\n`);
    if (process.env.S2CHANGE_DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`s2change: unexpected error: ${e?.message ?? String(err)}\n${e?.stack ?? ''}\n`);
  return 1;
}

function isEntryPoint(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

/**
 * With S2CHANGE_WATCH_PARENT=1 (set by `batch` and `worker` for the detect runs they start), end like on SIGTERM
 * when stdin closes: the parent died, even by SIGKILL, and a job must not run on unwatched. The stdin handle is
 * unref'd so it never keeps a finished run alive.
 */
export function watchParent(): void {
  if (process.env.S2CHANGE_WATCH_PARENT !== '1') return;
  const stdin = process.stdin as NodeJS.ReadStream & { unref?: () => void };
  const gone = (): void => void process.kill(process.pid, 'SIGTERM');
  stdin.on('end', gone);
  stdin.on('error', gone);
  stdin.resume();
  stdin.unref?.();
}

if (isEntryPoint()) {
  // `s2change detect --help | head`: a closed stdout ends the command quietly, as for other Unix tools
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  watchParent();
  main(process.argv).then((code) => {
    process.exitCode = code;
    // A finished command must not be kept alive by a leftover handle (a stuck worker, a socket): end it after 2 s.
    setTimeout(() => process.exit(code), 2000).unref();
  });
}
