import { formatDuration, progressLine, ReplayProgress } from '../../cli/progress';

/** A stand-in for process.stdout that keeps what was written. */
const output = (isTTY: boolean) => {
  const written: string[] = [];
  return { isTTY, written, write: (text: string) => written.push(text) };
};

describe('the replay progress line', () => {
  it('says records done of the total, the rate so far and the time left at that rate', () => {
    expect(progressLine(5_000, 20_000, 50_000)).toBe(
      '  ⋯ replaying: 5,000 of 20,000 records (25%), 100/s, about 2 min 30 s left',
    );
    expect(progressLine(0, 20_000, 1_000)).toBe('  ⋯ replaying: 0 of 20,000 records (0%)');
  });

  it.each([
    [42, '42 s'],
    [75, '1 min 15 s'],
    [3_720, '1 h 02 min'],
  ])('writes %d s as %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it('is redrawn in place on a terminal and erased before other output', () => {
    let now = 0;
    const terminal = output(true);
    const progress = new ReplayProgress(100, terminal, true, () => now);

    now = 10_000;
    progress.advance(50);
    progress.clear();
    progress.stop();

    expect(terminal.written).toEqual([
      '\r\x1b[2K  ⋯ replaying: 50 of 100 records (50%), 5/s, about 10 s left',
      '\r\x1b[2K',
    ]);
  });

  it('writes nothing when the output is not a terminal (piped, or --json)', () => {
    const piped = output(false);
    const progress = new ReplayProgress(100, piped);

    progress.advance(50);
    progress.clear();
    progress.stop();

    expect(piped.written).toEqual([]);
  });
});
