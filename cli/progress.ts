/** Where a progress line is drawn: a terminal, or anything else (then nothing is drawn). */
export interface ProgressOutput {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** Erases the terminal's current line and returns to its start. */
const ERASE_LINE = '\r\x1b[2K';
const REDRAW_MS = 1000;

/** `75 s` -> `1 min 15 s`. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min ${String(whole % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** The progress line: records done of the total, the rate so far, and the time left at that rate. */
export function progressLine(done: number, total: number, elapsedMs: number): string {
  const counts = `${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} records`;
  const percent = total > 0 ? Math.floor((100 * done) / total) : 100;
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  if (done === 0 || rate === 0) return `  ⋯ replaying: ${counts} (${percent}%)`;
  const left = formatDuration((total - done) / rate);
  return `  ⋯ replaying: ${counts} (${percent}%), ${rate.toFixed(0)}/s, about ${left} left`;
}

/**
 * Shows that a long replay is alive: on a terminal, one line redrawn in place (after each delivery, and every second
 * while the stack settles); nowhere else, so piped or `--json` output carries nothing extra. Lines printed meanwhile
 * go through `clear` first, and the next redraw puts the progress line back under them.
 */
export class ReplayProgress {
  private done = 0;
  private shown = false;
  private live: boolean;
  private readonly started: number;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly total: number,
    private readonly output: ProgressOutput,
    enabled: boolean = output.isTTY === true,
    private readonly now: () => number = Date.now,
  ) {
    this.live = enabled;
    this.started = now();
    if (enabled) {
      this.timer = setInterval(() => this.draw(), REDRAW_MS);
      this.timer.unref();
    }
  }

  advance(records: number): void {
    this.done = Math.min(this.total, this.done + records);
    this.draw();
  }

  clear(): void {
    if (!this.shown) return;
    this.output.write(ERASE_LINE);
    this.shown = false;
  }

  /** Erases the line for good. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
    this.live = false;
  }

  private draw(): void {
    if (!this.live) return;
    this.output.write(`${ERASE_LINE}${progressLine(this.done, this.total, this.now() - this.started)}`);
    this.shown = true;
  }
}
