/**
 * `s2change verify DIR`: re-check every output listed in summary.json against its SHA-256.
 */
import type { Command } from 'commander';
import { OutputIntegrityError } from '../errors.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check the summary.json of a run against its integrity digest and its outputs against the sizes and SHA-256 sums it lists')
    .argument('<dir>', 'a detect output folder')
    .option('--json', 'machine-readable output on stdout')
    .action(async (dir: string, o: { json?: boolean }) => {
      const { verifyOutputs } = await import('../io/output-dir.js');
      const r = await verifyOutputs(dir);
      if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else {
        process.stdout.write(`${r.summary.ok ? 'ok      ' : 'CHANGED '} summary.json${r.summary.ok ? ' (integrity digest, expected outputs)' : `: ${r.summary.problems.join('; ')}`}\n`);
        for (const f of r.files) process.stdout.write(`${f.ok ? 'ok      ' : f.actual ? 'CHANGED ' : 'MISSING '} ${f.name}\n`);
      }
      if (!r.ok) {
        const bad = [...(r.summary.ok ? [] : [`summary.json (${r.summary.problems.join('; ')})`]), ...r.files.filter((f) => !f.ok).map((f) => f.name)];
        throw new OutputIntegrityError('outputs do not match summary.json', {
          input: dir, expected: 'summary.json matching its integrity digest and every listed file with its recorded SHA-256', found: `${bad.length} changed or missing: ${bad.join(', ')}`,
          fix: 'Re-run the detect command that made this folder',
        });
      }
    });
}
