/**
 * `npm run bench`: the speed benchmark with its defaults (2048, 5490 and 10980 pixels, 3 runs each), JSON on
 * stdout. Arguments are passed through: `npm run bench -- --size 5490 --runs 5 --no-float`.
 */
import { Command } from 'commander';
import { registerBench } from '../cli/bench-command.js';

const program = new Command('s2change');
registerBench(program);
await program.parseAsync(['node', 's2change', 'bench', 'speed', ...process.argv.slice(2)]);
