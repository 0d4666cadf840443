/**
 * `s2change view OUT [--port N] [--no-open]`: serve an interactive map of a finished run on 127.0.0.1, print its
 * URL, open the browser unless --no-open, and serve until SIGINT/SIGTERM.
 */
import type { Command } from 'commander';
import { parseNumber } from './options.js';
import { collectHost } from './search-command.js';

/** Open `url` in the desktop's browser; a failure only means the user opens it by hand. */
async function openBrowser(url: string): Promise<void> {
  const { spawn } = await import('node:child_process');
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]]
    : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]]
      : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => process.stderr.write(`could not start a browser (${cmd}); open ${url} yourself\n`));
    child.unref();
  } catch {
    process.stderr.write(`could not start a browser; open ${url} yourself\n`);
  }
}

export function registerView(program: Command): void {
  program
    .command('view')
    .description('interactive map of a run (swipe, live threshold, pixel inspector), served on 127.0.0.1')
    .argument('<out>', 'the --out folder of a detect run')
    .option('--port <n>', 'port on 127.0.0.1; 0 lets the system pick a free one', '0')
    .option('--no-open', 'do not open the browser; only print the URL')
    .option('--basemap <osm|url>', 'a basemap under the layers (needs the network): "osm" or an XYZ tile URL with {z}/{x}/{y}')
    .option('--allow-private-network', 'let the server proxy input URLs on private, loopback or link-local addresses (as the run was made with)')
    .option('--allow-host <host>', 'let the server proxy input URLs on this one host (host or host:port) even on a private address; repeatable', collectHost, [] as string[])
    .action(async (out: string, o: { port: string; open: boolean; basemap?: string; allowPrivateNetwork?: boolean; allowHost?: string[] }) => {
      const port = parseNumber('--port', o.port, 0, 65535);
      if (!Number.isInteger(port)) {
        const { UsageError } = await import('../errors.js');
        throw new UsageError('not a port number', { input: '--port', expected: 'an integer from 0 to 65535', found: o.port });
      }
      const { startViewServer, parseBasemap } = await import('../view/server.js');
      const server = await startViewServer({ dir: out, port, basemap: o.basemap ? parseBasemap(o.basemap) : null,
        remote: { allowPrivateNetwork: !!o.allowPrivateNetwork, ...(o.allowHost?.length ? { allowHosts: o.allowHost } : {}) } });
      process.stdout.write(`${server.url}\n`);
      process.stderr.write(`serving ${out} on ${server.url} (127.0.0.1 only); Ctrl+C to stop\n`);
      if (o.open) await openBrowser(server.url);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
    });
}
