// A detect from a script: the INCIDENT fire (California, July 2024) from the sample data, in memory.
//   node examples/detect-fire.mjs [SAMPLE_DATA_FOLDER]
// Prints the hectares per severity class and the share of the burned pixels whose dNBR is above 0.44 (moderate-high+).
import path from 'node:path';
import { detect } from 's2change';

const data = process.argv[2] ?? process.env.S2CHANGE_DATA ?? '../shared/data';
const chip = (when) => path.join(data, 'wildfire-calfire-s2', 'data', when, '5_INCIDENT_20240715.tif');

const run = await detect({ before: chip('pre_fire'), after: chip('post_fire'), preset: 'wildfire', minArea: 0.5 });
console.log(`${run.preset} (${run.method}): ${run.formula}`);
for (const a of run.areas) console.log(`${a.name.padEnd(24)} ${a.hectares.toFixed(2).padStart(8)} ha  ${a.pixels} px`);
const dnbr = run.index.values;
let burned = 0, severe = 0;
for (let i = 0; i < dnbr.length; i++) {
  if (run.classes[i] >= 1 && run.classes[i] <= 4) { burned++; if (dnbr[i] >= 0.44) severe++; }
}
console.log(`grid ${run.grid.width}×${run.grid.height}, ${run.grid.crs.epsg ? `EPSG:${run.grid.crs.epsg}` : 'CRS from WKT'}; ${(100 * severe / burned).toFixed(1)} % of burned pixels moderate-high or high`);
