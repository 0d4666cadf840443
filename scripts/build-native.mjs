// Build the optional libdeflate binding (native/libdeflate) with node-gyp. Without a C compiler or the system's
// libdeflate headers (Debian: apt-get install libdeflate-dev) it says so and exits 0: s2change then uses node:zlib.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
if (!existsSync('/usr/include/libdeflate.h') && !process.env.S2CHANGE_FORCE_NATIVE) {
  process.stderr.write('native: libdeflate headers not found (apt-get install libdeflate-dev); using node:zlib for DEFLATE\n');
  process.exit(0);
}
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, 'rebuild', '--directory', 'native/libdeflate'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(`native: building the libdeflate binding failed; using node:zlib for DEFLATE\n${(r.stderr ?? '').slice(-2000)}\n`);
  process.exit(0);
}
process.stderr.write('native: libdeflate binding built (native/libdeflate/build/Release/s2deflate.node)\n');
