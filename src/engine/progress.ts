/**
 * Progress on stderr for long runs: blocks done / total, Mpx/s and decoded MB/s. Silent for runs shorter than a
 * second; one rewritten line on a terminal, a line every ~10 % otherwise.
 */

/** Reports block progress of one pass. */
export class ProgressReporter {
  private readonly start = Date.now();
  private done = 0;
  private pixels = 0;
  private bytes = 0;
  private lastPrint = 0;
  private lastDecile = -1;
  private printed = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean } | null = process.stderr,
    private readonly minSeconds = 1,
  ) {}

  /** One block finished: its output pixels and decoded input bytes. */
  tick(pixels: number, decodedBytes: number): void {
    this.done++;
    this.pixels += pixels;
    this.bytes += decodedBytes;
    if (!this.stream) return;
    const now = Date.now();
    const secs = (now - this.start) / 1000;
    if (secs < this.minSeconds && this.done < this.total) return;
    if (!this.printed && secs < this.minSeconds) return;
    const tty = Boolean(this.stream.isTTY);
    const decile = Math.floor((10 * this.done) / this.total);
    if (tty ? now - this.lastPrint < 200 && this.done < this.total : decile === this.lastDecile && this.done < this.total) return;
    this.lastPrint = now;
    this.lastDecile = decile;
    this.printed = true;
    const line = `${this.label}: ${this.done}/${this.total} blocks, ${(this.pixels / 1e6 / secs).toFixed(1)} Mpx/s, ${(this.bytes / 1e6 / secs).toFixed(0)} MB/s decoded, ${secs.toFixed(1)} s`;
    this.stream.write(tty ? `\r${line}${this.done === this.total ? '\n' : ''}` : `${line}\n`);
  }

  /** End a partially printed terminal line (on errors). */
  end(): void {
    if (this.printed && this.stream?.isTTY && this.done < this.total) this.stream.write('\n');
  }
}
