// The fixed-rate latency section of npm run bench (`npm run bench -- latency`): the HTTP/1.1 section's targets
// (direct, nginx, drain-proxy, the raw Node socket pipe) at a fixed request rate well below saturation, with
// `h2load --h1 --rps` and its per-request log: the latency each proxy adds to a request when none of them is
// short of CPU, beside nginx's and the pipe's; and their CPU per request at that rate.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadRounds, median, pairedRatios, reportMedians, runsOf, summarize, type BenchSummary } from '../harness/bench.ts';
import { fixed } from '../harness/tables.ts';
import { parseH2load, runH2load } from './h2.ts';
import { NODE_PIPE, startHttp1Targets, startNodePipe } from './http1.ts';
import { APP_BODY, markers, measuredOn, positiveIntegerFromEnv, writeRawOutput, type BenchContext, type BenchSection } from './session.ts';

const settings = {
  /** Requests per second, all clients together. */
  rate: positiveIntegerFromEnv('BENCH_LATENCY_RATE', 5000),
  clients: positiveIntegerFromEnv('BENCH_LATENCY_CLIENTS', 20),
  durationSeconds: positiveIntegerFromEnv('BENCH_LATENCY_DURATION', 10),
  warmupSeconds: positiveIntegerFromEnv('BENCH_LATENCY_WARMUP', 2),
};

const UNITS = { rate: 'req/s', latency: 'p99', operation: 'req' };

/** Latency percentiles of one run, in ms. */
interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export function percentiles(microseconds: readonly number[]): Percentiles {
  const sorted = [...microseconds].sort((a, b) => a - b);
  const at = (share: number): number => sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))] / 1000;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[sorted.length - 1] / 1000 };
}

/** h2load's `--log-file` rows: start time, status, microseconds until the end of the response. */
export function parseRequestLog(text: string): { durations: number[]; failed: number } {
  const durations: number[] = [];
  let failed = 0;
  for (const line of text.split('\n')) {
    const [, status, duration] = line.split('\t');
    if (duration === undefined) continue;
    if (status !== '200') failed++;
    durations.push(Number(duration));
  }
  return { durations, failed };
}

/** h2load's load arguments at the section's rate (its per-request log to `logFile`). */
function loadArgs(logFile?: string): string[] {
  return ['--h1', '-c', String(settings.clients), '--rps', String(settings.rate / settings.clients), ...(logFile === undefined ? [] : [`--log-file=${logFile}`])];
}

const HEADER = ['target', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'added p50 ms', 'added p99 ms', 'proxy CPU µs/req'];

/** What each run's log said, by target and round. */
type Latencies = Map<string, Percentiles>;
const key = (target: string, round: number): string => `${target}#${round}`;

/** A percentile's median over the rounds, and what the target adds to direct's in the same round. */
function latencyOf(latencies: Latencies, summary: BenchSummary, pick: (p: Percentiles) => number, minusDirect: boolean): number {
  return median(summary.runs.map((run) => {
    const mine = pick(latencies.get(key(run.target, run.round))!);
    const direct = latencies.get(key('direct', run.round));
    return minusDirect && direct !== undefined ? mine - pick(direct) : mine;
  }));
}

function rows(summaries: readonly BenchSummary[], latencies: Latencies): string[][] {
  return summaries.map((summary) => {
    const ms = (pick: (p: Percentiles) => number, added = false): string => latencyOf(latencies, summary, pick, added).toFixed(2);
    return [
      summary.target,
      fixed(summary.perSecond, 0),
      ms((p) => p.p50), ms((p) => p.p90), ms((p) => p.p99), ms((p) => p.p999), ms((p) => p.max),
      summary.target === 'direct' ? '-' : ms((p) => p.p50, true),
      summary.target === 'direct' ? '-' : ms((p) => p.p99, true),
      fixed(summary.proxyCpuUs, 1),
    ];
  });
}

/** The record line: what drain-proxy adds, beside nginx and the pipe, and its CPU at that rate over nginx's. */
function summaryLine(summaries: readonly BenchSummary[], latencies: Latencies): string {
  const find = (name: string) => summaries.find((s) => s.target === name);
  const added = (name: string): string => {
    const summary = find(name);
    if (summary === undefined) return `${name} not measured`;
    return `${name} ${latencyOf(latencies, summary, (p) => p.p50, true).toFixed(2)} ms at p50 and ${latencyOf(latencies, summary, (p) => p.p99, true).toFixed(2)} ms at p99`;
  };
  const cpu = pairedRatios(runsOf(summaries, 'drain-proxy'), runsOf(summaries, 'nginx'), (run) => run.proxyCpuUs);
  return `Latency added to direct's at ${settings.rate} req/s (median of per-round differences): ${added('drain-proxy')}; `
    + `${added('nginx')}; ${added(NODE_PIPE)}. drain-proxy's CPU per request at that rate: `
    + `${cpu.length === 0 ? 'n/a' : `${median(cpu).toFixed(2)}x nginx's`}.`;
}

async function run(context: BenchContext): Promise<string | undefined> {
  const { appPid, appPort, targets } = await startHttp1Targets(context, 'latency');
  targets.push(await startNodePipe(appPort));
  const latencies: Latencies = new Map();
  const runs = await loadRounds('Fixed rate', targets, context.rounds, UNITS, {
    ...settings, appPid, command: `h2load -t1 ${loadArgs().join(' ')} -D ${settings.durationSeconds}`,
  }, async (target, seconds, round) => {
    const file = (suffix: string): string => `latency-${target.name.replace(/ /g, '-')}-${suffix}`;
    const logFile = round === undefined ? undefined : join(context.tempDir, file(`${round}.tsv`));
    const output = await runH2load(target.url, seconds, loadArgs(logFile));
    if (round === undefined || logFile === undefined) return parseH2load(output);
    writeRawOutput(file(`round${round}.txt`), output);
    const { durations, failed } = parseRequestLog(readFileSync(logFile, 'utf8'));
    if (durations.length === 0) throw new Error(`${target.name}: h2load logged no request:\n${output}`);
    const measured = percentiles(durations);
    latencies.set(key(target.name, round), measured);
    return { operations: durations.length - failed, perSecond: durations.length / settings.durationSeconds, latencyMs: measured.p99, errors: failed };
  });
  const summaries = summarize(targets, runs);
  const tail = reportMedians('Fixed rate', context, UNITS, summaries, HEADER, rows(summaries, latencies), [summaryLine(summaries, latencies)], ' req/s');
  writeRawOutput('last-run-latency.json', JSON.stringify({ context, settings, runs, latencies: Object.fromEntries(latencies) }, null, 2));
  if (!targets.some((target) => target.name === 'drain-proxy')) return undefined;
  return `${measuredOn(context)}
- Versions: Node ${context.versions.node}, nginx ${context.versions.nginx}, h2load ${context.versions.h2load}
- Load: \`h2load --h1 -t1 -c${settings.clients} --rps ${settings.rate / settings.clients} -D ${settings.durationSeconds}\` (${settings.rate} req/s in all, `
    + `keep-alive HTTP/1.1) after a ${settings.warmupSeconds} s warm-up at the same rate, ${Buffer.byteLength(APP_BODY)}-byte response bodies, `
    + `${context.rounds} rounds in rotating order; percentiles from h2load's per-request log (\`--log-file\`), each figure the median over the rounds, `
    + `"added" the median of per-round differences to direct's

${tail}`;
}

export const latencySection: BenchSection = {
  name: 'latency', switch: 'BENCH_LATENCY', markers: markers('bench-latency-results', 'Latest fixed-rate latency run'), run,
};
