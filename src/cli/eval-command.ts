/**
 * `s2change eval`: accuracy of a change map against reference labels.
 */
import type { Command } from 'commander';
import { parseList, parseNumber } from './options.js';

const nums = (option: string, text: string) => parseList(text, option).map((s) => parseNumber(option, s));

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('confusion matrix, precision, recall, F1, IoU, overall accuracy and kappa of a change map against labels')
    .requiredOption('--pred <dir|tif>', 'a detect output folder (uses change.tif and the preset) or a class GeoTIFF')
    .requiredOption('--truth <tif|png>', 'reference labels')
    .option('--truth-change <values>', 'label values meaning change', '1')
    .option('--truth-nochange <values>', 'label values meaning no change', '0')
    .option('--truth-ignore <values>', 'label values to skip (e.g. -1)')
    .option('--pred-change <values>', 'class values meaning change (default: the preset\'s, or every class but 0 and 255)')
    .option('--json', 'machine-readable output on stdout')
    .action(async (o: { pred: string; truth: string; truthChange: string; truthNochange: string; truthIgnore?: string; predChange?: string; json?: boolean }) => {
      const { evaluateAgainst, readLabelRaster, readPrediction } = await import('../pipeline/evaluate.js');
      const coding = {
        change: nums('--truth-change', o.truthChange), noChange: nums('--truth-nochange', o.truthNochange),
        ignore: o.truthIgnore !== undefined ? nums('--truth-ignore', o.truthIgnore) : [],
      };
      const pred = await readPrediction(o.pred, o.predChange !== undefined ? nums('--pred-change', o.predChange) : undefined);
      const truth = await readLabelRaster(o.truth);
      const ev = evaluateAgainst(pred.raster, pred.changeClasses, truth, coding);
      for (const m of ev.messages) process.stderr.write(`note: ${m}\n`);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ pred: o.pred, truth: o.truth, ...ev }, null, 2)}\n`);
        return;
      }
      const { tp, fp, fn, tn } = ev.confusion;
      const s = ev.scores;
      const pct = (v: number) => (Number.isNaN(v) ? '  n/a' : `${(100 * v).toFixed(2)}`);
      process.stdout.write(
        `                 truth change  truth no change\n` +
        `pred change     ${String(tp).padStart(12)}  ${String(fp).padStart(15)}\n` +
        `pred no change  ${String(fn).padStart(12)}  ${String(tn).padStart(15)}\n\n` +
        `precision ${pct(s.precision)} %  recall ${pct(s.recall)} %  F1 ${pct(s.f1)} %  IoU ${pct(s.iou)} %  ` +
        `overall accuracy ${pct(s.overallAccuracy)} %  kappa ${Number.isNaN(s.kappa) ? 'n/a' : s.kappa.toFixed(4)}\n` +
        `(${ev.pixels} labelled pixels; prediction change classes ${pred.changeClasses.join(',')})\n`,
      );
    });
}
