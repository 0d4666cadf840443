/**
 * `s2change verify DIR`: re-check every output listed in summary.json against its SHA-256.
 */
import type { Command } from 'commander';
import { OutputIntegrityError } from '../errors.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check the outputs of a run against the sizes and SHA-256 sums in its summary.json')
    .argument('<dir>', 'a detect output folder')
    .option('--json', 'machine-readable output on stdout')
    .action(async (dir: string, o: { json?: boolean }) => {
      const { verifyOutputs } = await import('../io/output-dir.js');
      const r = await verifyOutputs(dir);
      if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else for (const f of r.files) process.stdout.write(`${f.ok ? 'ok      ' : f.actual ? 'CHANGED ' : 'MISSING '} ${f.name}\n`);
      if (!r.ok) {
        const bad = r.files.filter((f) => !f.ok).map((f) => f.name);
        throw new OutputIntegrityError('outputs do not match summary.json', {
          input: dir, expected: 'every listed file with its recorded SHA-256', found: `${bad.length} changed or missing: ${bad.join(', ')}`,
          fix: 'Re-run the detect command that made this folder',
        });
      }
    });
}
