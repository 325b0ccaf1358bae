/** The percentile of sorted samples (nearest rank). */
export const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

/** Prints a latency measurement as a markdown table of p50, p90, p99 and max. */
export function printLatency(title: string, latencies: readonly number[]): void {
  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(`\n${title} (${latencies.length} samples, local)\n`);
  console.log('| p50 | p90 | p99 | max |\n| --- | --- | --- | --- |');
  console.log(`| ${[50, 90, 99, 100].map((p) => `${Math.round(percentile(sorted, p))} ms`).join(' | ')} |`);
}
