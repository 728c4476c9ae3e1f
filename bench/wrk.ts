import { run } from '../harness/processes.ts';

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses outside 2xx/3xx plus connect/read/write/timeout socket errors. */
  readonly errors: number;
  readonly rawOutput: string;
}

export interface WrkOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
}

const LATENCY_UNIT_TO_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3 };

function latencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  if (match === null) throw new Error(`wrk output has no ${percentile}% latency:\n${text}`);
  return Number(match[1]) * LATENCY_UNIT_TO_MS[match[2]];
}

export function parseWrkOutput(text: string): WrkResult {
  const totals = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),/m.exec(text);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (totals === null || rate === null) throw new Error(`unexpected wrk output:\n${text}`);
  const non2xx = /^\s*Non-2xx or 3xx responses:\s+(\d+)/m.exec(text);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = Number(non2xx?.[1] ?? 0)
    + (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, count) => sum + Number(count), 0));
  return {
    requests: Number(totals[1]),
    seconds: Number(totals[2]) * LATENCY_UNIT_TO_MS[totals[3]] / 1000,
    requestsPerSecond: Number(rate[1]),
    p50Ms: latencyMs(text, '50'),
    p99Ms: latencyMs(text, '99'),
    errors,
    rawOutput: text,
  };
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const { stdout } = await run('wrk', [
    '-t1',
    `-c${options.connections}`,
    `-d${options.durationSeconds}s`,
    '--latency',
    options.url,
  ], { timeoutMs: (options.durationSeconds + 30) * 1000 });
  return parseWrkOutput(stdout);
}
