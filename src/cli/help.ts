/**
 * The help a person meets: `detect --help` groups its ~40 options under headings (inputs, method, outputs, safety
 * limits, network and search) and every command's help ends with examples. Applied once, after every command has
 * registered its options, so the commands keep defining their options where they use them.
 */
import type { Command } from 'commander';

/** detect's option groups, in the order they are shown; options not named here go under "Other options:". */
const DETECT_GROUPS: readonly [string, readonly string[]][] = [
  ['Inputs:', ['before', 'after', 'bbox', 'bands', 'before-bands', 'after-bands', 'before-scl', 'after-scl', 'scale', 'offset', 'allow-host-files']],
  ['Method:', ['preset', 'method', 'threshold', 'min-area', 'cva-bands', 'cloud-buffer', 'model', 'coregister', 'no-coregister']],
  ['Outputs:', ['out', 'overwrite', 'json', 'index', 'no-index', 'polygons']],
  ['Accuracy against reference labels:', ['truth', 'truth-change', 'truth-nochange', 'truth-ignore']],
  ['Safety limits and performance:', ['max-pixels', 'max-memory', 'decode-timeout', 'decode-memory', 'max-time', 'engine', 'threads']],
  ['Finding scenes by place and date (STAC):', ['event-date', 'window-days', 'max-cloud', 'limit', 'stac-api', 'collection']],
  ['Network:', ['allow-private-network', 'allow-host', 'timeout', 'request-time', 'max-fetch-mb', 'cache-dir', 'no-cache']],
];

/** Examples shown at the end of each command's help (the program's own help lists a few too). */
export const HELP_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  detect: [
    's2change detect --before pre.tif --after post.tif --preset wildfire --min-area 0.5 --out fire',
    's2change detect --before S2A_..._20240610/ --after S2B_..._20240720/ --preset flood --bbox 19.40,41.70,19.60,41.85 --out flood',
    's2change detect --event-date 2024-07-15 --bbox 19.40,41.70,19.60,41.85 --preset flood --out flood-2024   # scenes found by STAC search',
  ],
  demo: ['s2change demo                      # every sample event into out/<event>/', 's2change demo --data ~/s2-samples --out demo-out'],
  info: ['s2change info S2B_MSIL2A_20240720.SAFE', 's2change info https://earth-search.aws.element84.com/v1/collections/sentinel-2-l2a/items/S2B_34TDL_20240720_0_L2A'],
  eval: ['s2change eval --pred fire/ --truth perimeter.tif --truth-change 1 --truth-nochange 0'],
  verify: ['s2change verify fire/'],
  search: ['s2change search --bbox 19.40,41.70,19.60,41.85 --datetime 2024-06-01/2024-07-31 --max-cloud 20'],
  pair: ['s2change pair --bbox 19.40,41.70,19.60,41.85 --event-date 2024-07-15 --json'],
  indices: ['s2change indices', 's2change indices --json'],
  presets: ['s2change presets'],
  bench: ['s2change bench speed --size 10980 --runs 3 --layout l2a', 's2change bench accuracy --dataset calfire'],
  'bench speed': ['s2change bench speed --size 10980 --runs 3 --layout l2a'],
  'bench accuracy': ['s2change bench accuracy --dataset calfire', 's2change bench accuracy --dataset oscd --root ../shared/data/oscd --root ../shared/data/oscd-test --train urban-model.json'],
  batch: ['s2change batch fires.csv --out runs/fires --concurrency 2', 's2change batch fires.json --out /shared/runs --queue redis://10.0.0.5:6379/0'],
  worker: ['s2change worker --queue redis://10.0.0.5:6379/0'],
  view: ['s2change view fire/', 's2change view fire/ --port 8765 --no-open'],
};

/** Group detect's options and add examples to every command (and subcommand) that has none yet. */
export function applyHelp(program: Command): void {
  const detect = program.commands.find((c) => c.name() === 'detect');
  if (detect) {
    const groupOf = new Map<string, string>();
    for (const [heading, names] of DETECT_GROUPS) for (const n of names) groupOf.set(n, heading);
    for (const o of detect.options) {
      const name = (o.long ?? '').replace(/^--/, '');
      o.helpGroup(groupOf.get(name) ?? groupOf.get(name.replace(/^no-/, '')) ?? 'Other options:');
    }
    // commander lists groups in the order they first appear: order the options by group
    const order = new Map(DETECT_GROUPS.map(([h], i) => [h, i]));
    (detect.options as unknown as { helpGroupHeading?: string }[]).sort((a, b) =>
      (order.get(a.helpGroupHeading ?? '') ?? 99) - (order.get(b.helpGroupHeading ?? '') ?? 99));
  }
  const visit = (cmd: Command, prefix: string): void => {
    for (const sub of cmd.commands) {
      const key = `${prefix}${sub.name()}`;
      const examples = HELP_EXAMPLES[key];
      if (examples) sub.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n`);
      visit(sub, `${key} `);
    }
  };
  visit(program, '');
  program.addHelpText('after', '\nExamples:\n  s2change demo\n  s2change detect --before pre.tif --after post.tif --preset wildfire --out fire\n  s2change view fire/\n\nRun `s2change <command> --help` for a command\'s options; docs: README.md and docs/.\n');
}

