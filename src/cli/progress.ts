/**
 * Progress of a long command on stderr: a redrawn bar with rate and ETA on a terminal, nothing
 * while running otherwise (logs stay clean); `done()` prints one summary line either way.
 */
export class Progress {
  private readonly start = performance.now();
  private readonly tty = process.stderr.isTTY === true;
  private lastDraw = 0;
  private n = 0;

  constructor(
    private readonly total: number,
    private readonly unit = 'images',
  ) {}

  tick(count = 1): void {
    this.n += count;
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && this.n < this.total) return;
    this.lastDraw = now;
    const rate = this.rate();
    const width = 24;
    const filled = this.total ? Math.round((width * this.n) / this.total) : width;
    const eta = rate > 0 ? (this.total - this.n) / rate : NaN;
    process.stderr.write(`\r[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${this.n}/${this.total} ${this.unit}  ${rate.toFixed(2)} ${this.unit}/s  ETA ${formatDuration(eta)}  `);
  }

  rate(): number {
    const s = (performance.now() - this.start) / 1000;
    return s > 0 ? this.n / s : 0;
  }

  done(summary: string): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
    const s = (performance.now() - this.start) / 1000;
    process.stderr.write(`${summary} in ${formatDuration(s)} (${this.rate().toFixed(2)} ${this.unit}/s)\n`);
  }
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
