/**
 * The help a person meets: detect's options grouped under headings in a fixed order, every option in a named group,
 * and examples at the end of every command's help (run through the compiled CLI, as a user would).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.js';
import * as helpModule from '../src/cli/help.js';

const CLI = path.resolve('dist/cli/main.js');
const help = (args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args, '--help'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
};

describe('command-line help', () => {
  it('detect --help groups its options in order and ends with three examples', () => {
    const text = help(['detect']);
    const headings = ['Inputs:', 'Method:', 'Outputs:', 'Accuracy against reference labels:', 'Safety limits and performance:', 'Finding scenes by place and date (STAC):', 'Network:'];
    const at = headings.map((h) => text.indexOf(`\n${h}\n`));
    expect(at.every((i) => i > 0), text).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(text).not.toContain('Other options:');
    // the plain 'Options:' heading is left with -h/--help only
    const plain = text.match(/\nOptions:\n([\s\S]*?)\n\n/)?.[1] ?? '';
    expect(plain.split('\n').filter((l) => /^\s+-/.test(l)).map((l) => l.trim().split(/\s+/)[0])).toEqual(['-h,']);
    const examples = text.slice(text.indexOf('\nExamples:\n')).split('\n').filter((l) => l.startsWith('  s2change detect'));
    expect(examples).toHaveLength(3);
    // each option sits under the heading chosen for it
    const section = (h: string) => text.slice(text.indexOf(`\n${h}\n`), text.indexOf('\n\n', text.indexOf(`\n${h}\n`) + 1));
    expect(section('Inputs:')).toContain('--before <src>');
    expect(section('Outputs:')).toContain('--overwrite');
    expect(section('Network:')).toContain('--allow-private-network');
  });

  it('every command and subcommand help has an example', () => {
    const program = buildProgram();
    const paths: string[][] = [];
    const visit = (cmd: typeof program, prefix: string[]) => {
      for (const sub of cmd.commands) {
        paths.push([...prefix, sub.name()]);
        visit(sub, [...prefix, sub.name()]);
      }
    };
    visit(program, []);
    expect(paths.length).toBeGreaterThan(8);
    for (const p of paths) expect(help(p), p.join(' ')).toMatch(/\nExamples:\n {2}s2change /);
    expect(help([])).toMatch(/\nExamples:\n/);
  });

  it("every example names a real command and only options that command has", () => {
    const program = buildProgram();
    for (const examples of Object.values(helpModule.HELP_EXAMPLES)) {
      for (const e of examples) {
        const words = e.replace(/#.*$/, '').trim().split(/\s+/).slice(1); // after "s2change"
        let cmd: any = program;
        while (words.length && cmd.commands.some((c: any) => c.name() === words[0])) {
          const name = words.shift();
          cmd = cmd.commands.find((c: any) => c.name() === name);
        }
        expect(cmd, e).not.toBe(program);
        const longs = new Set(cmd.options.map((o: any) => o.long));
        for (const flag of words.filter((w) => w.startsWith('--'))) expect(longs.has(flag), `${e}: ${flag}`).toBe(true);
      }
    }
  });

  it('a closed stdout (help piped into head) ends quietly', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" detect --help | head -1`], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('Usage: s2change detect [options]');
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
  });
});
