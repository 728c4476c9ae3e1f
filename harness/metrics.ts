/** Reading a Prometheus text exposition, as drain-proxy's /metrics serves it. */

/**
 * The value of `series`: one exact series (`drain_proxy_ready`, `x_total{label="a"}`), or, for a name
 * without labels, the sum over all its label sets. Undefined when absent.
 */
export function metricValue(text: string, series: string): number | undefined {
  const exact = series.includes('{');
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(series)) continue;
    const next = line[series.length];
    if (next !== ' ' && (exact || next !== '{')) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
