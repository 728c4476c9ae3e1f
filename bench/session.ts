// What every bench entry point (bench/run.ts, bench/h2-run.ts) sets up the same way: settings from BENCH_*
// variables, the doc and raw-output paths, and the command line that reproduces the run.
import { join } from 'node:path';
import { numberSetting } from '../harness/cli.ts';

export function positiveIntegerFromEnv(name: string, fallback: number): number {
  return numberSetting(name, process.env[name], fallback, 1, Number.MAX_SAFE_INTEGER);
}

/** The HTTP/2 section's settings (bench/h2.ts), the same whichever entry point runs it. */
export function h2SettingsFromEnv(): { durationSeconds: number; warmupSeconds: number; clients: number; streams: number; rounds: number } {
  return {
    durationSeconds: positiveIntegerFromEnv('BENCH_H2_DURATION', 5),
    warmupSeconds: positiveIntegerFromEnv('BENCH_H2_WARMUP', 1),
    clients: positiveIntegerFromEnv('BENCH_H2_CLIENTS', 8),
    streams: positiveIntegerFromEnv('BENCH_H2_STREAMS', 16),
    rounds: positiveIntegerFromEnv('BENCH_ROUNDS', 3),
  };
}

const repoRoot = new URL('..', import.meta.url).pathname;
export const docPath = join(repoRoot, 'docs', 'benchmarks.md');
// .bench/ is git-ignored; raw tool output lands there for a second look at odd figures.
export const rawOutputDir = join(repoRoot, '.bench');

/** What every bench section reports about the run and the machine, and where it may write. */
export interface BenchSectionContext {
  readonly tempDir: string;
  readonly rawOutputDir: string;
  readonly command: string;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly nginxVersion: string;
}

/** drain-proxy as every section runs it: quiet, and stopped at once (nothing is in flight when the bench stops it). */
export const BENCH_PROXY_ENV = { LOG_LEVEL: 'warn', DRAIN_DELAY: '0s', DRAIN_TIMEOUT: '2s' };

/** The body every section's app answers with, so that the sections compare the same response. */
export const APP_BODY = '0123456789'.repeat(12);

/** `BENCH_*` overrides in effect, then `command`: how to run this bench again. */
export function benchCommand(command: string): string {
  const overrides = Object.entries(process.env)
    .filter(([name]) => name.startsWith('BENCH_'))
    .map(([name, value]) => `${name}=${value}`);
  return [...overrides, command].join(' ');
}
