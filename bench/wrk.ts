// wrk, the HTTP/1.1 section's load tool: one thread, keep-alive connections, latency percentiles.
import type { ToolResult } from '../harness/bench.ts';
import { run } from '../harness/processes.ts';

export interface WrkResult extends ToolResult {
  readonly rawOutput: string;
}

const UNIT_TO_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3 };

function latencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  if (match === null) throw new Error(`wrk output has no ${percentile}% latency:\n${text}`);
  return Number(match[1]) * UNIT_TO_MS[match[2]];
}

/** Requests, req/s, p99 and errors (responses outside 2xx/3xx plus connect/read/write/timeout socket errors). */
export function parseWrkOutput(text: string): WrkResult {
  const totals = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),/m.exec(text);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (totals === null || rate === null) throw new Error(`unexpected wrk output:\n${text}`);
  const non2xx = /^\s*Non-2xx or 3xx responses:\s+(\d+)/m.exec(text);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    operations: Number(totals[1]),
    perSecond: Number(rate[1]),
    latencyMs: latencyMs(text, '99'),
    errors: Number(non2xx?.[1] ?? 0) + (socketErrors?.slice(1).reduce((sum, count) => sum + Number(count), 0) ?? 0),
    rawOutput: text,
  };
}

export async function runWrk(url: string, connections: number, durationSeconds: number, extraArgs: readonly string[] = []): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${durationSeconds}s`, '--latency', ...extraArgs, url];
  const { stdout } = await run('wrk', args, { timeoutMs: (durationSeconds + 30) * 1000 });
  return parseWrkOutput(stdout);
}
