/** Reading a Prometheus text exposition, as drain-proxy's /metrics serves it. */
import { httpGet } from './http.ts';

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function labelsOf(text: string): Map<string, string> {
  return new Map([...text.matchAll(LABEL)].map((m) => [m[1], m[2]]));
}

/**
 * The value of `series`, summed over every series of that name whose labels
 * include the ones given: `drain_proxy_ready`, `x_total{label="a"}` (all
 * values of the labels not named: `drain_proxy_requests_total{protocol="h2"}`
 * counts every listener and status class). Undefined when none is present.
 */
export function metricValue(text: string, series: string): number | undefined {
  const brace = series.indexOf('{');
  const name = brace < 0 ? series : series.slice(0, brace);
  const wanted = brace < 0 ? new Map<string, string>() : labelsOf(series.slice(brace));
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const next = line[name.length];
    if (next !== ' ' && next !== '{') continue;
    if (wanted.size > 0) {
      const labels = next === '{' ? labelsOf(line.slice(name.length, line.lastIndexOf('}') + 1)) : new Map<string, string>();
      let matches = true;
      for (const [label, value] of wanted) if (labels.get(label) !== value) matches = false;
      if (!matches) continue;
    }
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The exposition at `url` (an admin port's /metrics), or undefined when it cannot be read. */
export async function scrape(url: string, timeoutMs = 5000): Promise<string | undefined> {
  const answer = await httpGet(url, timeoutMs).catch(() => undefined);
  return answer?.status === 200 ? answer.body : undefined;
}
