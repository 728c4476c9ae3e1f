// The HTTP/2 section of npm run bench (`node bench/run.ts h2` runs it alone): h2load (nghttp2-client) against
// an h2c app (nginx, HTTP/2 with prior knowledge) directly, and through two proxies doing the same job for each
// upstream protocol:
//   h2c:   nginx `grpc_pass grpc://` | drain-proxy UPSTREAM_PROTOCOL=h2c   (stream to stream)
//   http1: nginx `proxy_pass` HTTP/1.1 | drain-proxy UPSTREAM_PROTOCOL=http1 (each stream an HTTP/1.1 request)
// in one run, rounds rotated; reports req/s, mean request time, each proxy's CPU per request (from /proc) and
// drain-proxy's CPU per request over nginx's for the same upstream protocol (median of the per-round ratios),
// against the goal of 1.3x. Beside them, a node:http2 server answering by itself (bench/node-h2-server.ts): what
// node:http2's server side alone costs, the floor under a node:http2 proxy's client leg.
import { join } from 'node:path';
import { loadRounds, median, pairedRatios, reportMedians, runsOf, summarize, type BenchSummary, type ToolResult } from '../harness/bench.ts';
import { startDrainProxy } from '../harness/drain-proxy.ts';
import { freePorts } from '../harness/ports.ts';
import { run as runCommand, startScript, stopAll } from '../harness/processes.ts';
import { checkTarget } from './http1.ts';
import { startNginxH2cApp, startNginxH2Proxy, type H2UpstreamProtocol } from './nginx.ts';
import { APP_BODY, BENCH_PROXY_ENV, markers, positiveIntegerFromEnv, writeRawOutput, type BenchContext, type BenchSection } from './session.ts';

export const settings = {
  durationSeconds: positiveIntegerFromEnv('BENCH_H2_DURATION', 5),
  warmupSeconds: positiveIntegerFromEnv('BENCH_H2_WARMUP', 1),
  /** h2load -c: client connections. */
  clients: positiveIntegerFromEnv('BENCH_H2_CLIENTS', 8),
  /** h2load -m: concurrent streams per connection. */
  streams: positiveIntegerFromEnv('BENCH_H2_STREAMS', 16),
};

/** drain-proxy's HTTP/2 CPU per request at most this times nginx's doing the same job. */
const H2_CPU_RATIO_TARGET = 1.3;

const H2_LOAD_ARGS = ['-c', String(settings.clients), '-m', String(settings.streams)];

const UNITS = { rate: 'req/s', latency: 'mean', operation: 'req' };
const NODE_H2_SERVER = 'node:http2 server alone';
export const HEADER = ['target', 'req/s', 'mean request time (ms)', 'proxy CPU µs/request', 'ratio to nginx (same upstream)', 'app CPU µs/request', 'failed'];

export interface H2Target {
  readonly name: string;
  readonly url: string;
  readonly proxyPid: number | undefined;
  /** drain-proxy's targets: the nginx target doing the same job, its CPU the ratio's denominator. */
  readonly pairedWith?: string;
  /** A reference that answers by itself: no forwarding headers to check. */
  readonly answersItself?: boolean;
}

function toMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

/** Requests succeeded, req/s, h2load's mean `time for request` (it reports no percentiles), failed and errored requests. */
export function parseH2load(output: string): ToolResult {
  const finished = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(output);
  const requests = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(output);
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(output);
  if (finished === null || requests === null || time === null) throw new Error(`h2load output not understood:\n${output}`);
  return { operations: Number(requests[2]), perSecond: Number(finished[1]), latencyMs: toMs(time[3]), errors: Number(requests[3]) + Number(requests[4]) };
}

/** h2load, one thread, `loadArgs` (`-c`, `-m`, `--h1`) for `durationSeconds`: its output. */
export async function runH2load(url: string, durationSeconds: number, loadArgs: readonly string[] = H2_LOAD_ARGS): Promise<string> {
  const args = ['-t', '1', ...loadArgs, '-D', String(durationSeconds), url];
  const { stdout, stderr } = await runCommand('h2load', args, { timeoutMs: (durationSeconds + 30) * 1000, allowFailure: true });
  return stdout + stderr;
}

/** drain-proxy's targets: per-round CPU per request over the paired nginx target's. */
function ratiosOf(summaries: readonly BenchSummary[], target: H2Target): number[] {
  return target.pairedWith === undefined ? [] : pairedRatios(runsOf(summaries, target.name), runsOf(summaries, target.pairedWith), (run) => run.proxyCpuUs);
}

/** The table's ratio: drain-proxy's to its nginx, the node:http2 server's to nginx h2c. */
function tableRatios(summaries: readonly BenchSummary[], target: H2Target): number[] {
  return target.answersItself === true ? ratiosOf(summaries, { ...target, pairedWith: 'nginx h2c' }) : ratiosOf(summaries, target);
}

export function rows(summaries: readonly BenchSummary[], targets: readonly H2Target[]): string[][] {
  return summaries.map((s, index) => {
    const ratios = tableRatios(summaries, targets[index]);
    return [
      s.target,
      s.perSecond.toFixed(0),
      s.latencyMs.toFixed(2),
      s.proxyCpuUs === undefined ? '-' : s.proxyCpuUs.toFixed(1),
      ratios.length > 0 ? `${median(ratios).toFixed(2)}x` : s.target.startsWith('nginx') ? '1.00x' : '-',
      s.appCpuUs.toFixed(1),
      String(s.errors),
    ];
  });
}

/**
 * One verdict per upstream protocol: drain-proxy's CPU per request over nginx's, each round's ratio, against
 * H2_CPU_RATIO_TARGET; and what node:http2's server side alone costs beside nginx's whole proxying, when it ran.
 * `job` names what a drain-proxy target does (its upstream protocol).
 */
export function ratioLines(
  summaries: readonly BenchSummary[], targets: readonly H2Target[], job = (target: H2Target) => `${target.name.replace('drain-proxy ', '')} upstream`,
): string[] {
  const cpu = (name: string | undefined) => summaries.find((s) => s.target === name)?.proxyCpuUs;
  const lines = targets.flatMap((target) => {
    const ratios = ratiosOf(summaries, target);
    if (ratios.length === 0) return [];
    const ratio = median(ratios);
    return [`${ratio <= H2_CPU_RATIO_TARGET ? 'MET' : 'MISSED'}: ${job(target)}: drain-proxy `
      + `${cpu(target.name)?.toFixed(1)} µs/request, nginx ${cpu(target.pairedWith)?.toFixed(1)}: ${ratio.toFixed(2)}x nginx's CPU per request `
      + `(median of per-round ratios; rounds ${ratios.map((r) => r.toFixed(2)).join(', ')}; target <= ${H2_CPU_RATIO_TARGET}x)`];
  });
  const floor = pairedRatios(runsOf(summaries, NODE_H2_SERVER), runsOf(summaries, 'nginx h2c'), (run) => run.proxyCpuUs);
  if (floor.length > 0) {
    lines.push(`For reference: a node:http2 server answering by itself, no proxying, ${cpu(NODE_H2_SERVER)?.toFixed(1)} µs/request: `
      + `${median(floor).toFixed(2)}x nginx's CPU per request as an h2c proxy (rounds ${floor.map((r) => r.toFixed(2)).join(', ')})`);
  }
  return lines;
}

async function run(context: BenchContext): Promise<string | undefined> {
  const [h2Port, http1Port, nginxH2cPort, nginxH2cCheckPort, nginxHttp1Port, nginxHttp1CheckPort, nodeH2Port] = await freePorts(7);
  const app = await startNginxH2cApp(join(context.tempDir, 'h2c-app'), h2Port, http1Port, APP_BODY);
  const nginxProxy = (upstream: H2UpstreamProtocol, port: number, checkPort: number) => startNginxH2Proxy(join(context.tempDir, `nginx-h2-${upstream}`),
    port, checkPort, upstream, upstream === 'h2c' ? h2Port : http1Port, settings.clients * settings.streams);
  const nginxH2c = await nginxProxy('h2c', nginxH2cPort, nginxH2cCheckPort);
  const nginxHttp1 = await nginxProxy('http1', nginxHttp1Port, nginxHttp1CheckPort);
  const viaH2c = await startDrainProxy(h2Port, { env: { ...BENCH_PROXY_ENV, UPSTREAM_PROTOCOL: 'h2c' } });
  const viaHttp1 = await startDrainProxy(http1Port, { env: { ...BENCH_PROXY_ENV, UPSTREAM_PROTOCOL: 'http1' } });
  const nodeH2 = await startScript(NODE_H2_SERVER, new URL('./node-h2-server.ts', import.meta.url).pathname, [String(nodeH2Port)]);
  const targets: H2Target[] = [
    { name: 'direct', url: `http://127.0.0.1:${h2Port}/`, proxyPid: undefined },
    { name: 'nginx h2c', url: `http://127.0.0.1:${nginxH2cPort}/`, proxyPid: nginxH2c.pid },
    { name: 'drain-proxy h2c', url: viaH2c.url('/'), proxyPid: viaH2c.pid, pairedWith: 'nginx h2c' },
    { name: 'nginx http1', url: `http://127.0.0.1:${nginxHttp1Port}/`, proxyPid: nginxHttp1.pid },
    { name: 'drain-proxy http1', url: viaHttp1.url('/'), proxyPid: viaHttp1.pid, pairedWith: 'nginx http1' },
    { name: NODE_H2_SERVER, url: `http://127.0.0.1:${nodeH2Port}/`, proxyPid: nodeH2.pid, answersItself: true },
  ];
  for (const target of targets) await checkTarget(target, undefined, true);
  const runs = await loadRounds('HTTP/2', targets, context.rounds, UNITS, {
    ...settings, appPid: app.pid, command: `h2load -t1 -c${settings.clients} -m${settings.streams} -D${settings.durationSeconds}`,
  }, async (target, seconds, round) => {
    const output = await runH2load(target.url, seconds);
    if (round !== undefined) writeRawOutput(`h2load-${target.name.replace(/ /g, '-')}-round${round}.txt`, output);
    return parseH2load(output);
  });
  await stopAll(3000);
  const summaries = summarize(targets, runs);
  const tail = reportMedians('HTTP/2', context, UNITS, summaries, HEADER, rows(summaries, targets), ratioLines(summaries, targets));
  return `Run ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} with \`${context.command}\` on ${context.cpuModel} (Linux ${context.kernel}):
h2load ${context.versions.h2load} (\`-t1 -c${settings.clients} -m${settings.streams}\`, ${settings.warmupSeconds} s warm-up, ${settings.durationSeconds} s measured, ${context.rounds} rounds, order rotated)
against nginx ${context.versions.nginx} serving a ${Buffer.byteLength(APP_BODY)}-byte body over h2c (one worker): directly, and through
two proxies per upstream protocol, each with one worker or thread and the same header work (Host kept,
X-Forwarded-For appended, X-Forwarded-Proto set). h2c upstream: nginx \`grpc_pass grpc://\` (one upstream
connection per request in flight, kept alive) and drain-proxy \`UPSTREAM_PROTOCOL=h2c\` (one HTTP/2 session to
the app, stream to stream). http1 upstream: nginx \`proxy_pass\` (HTTP/1.1, keep-alive pool) and drain-proxy
\`UPSTREAM_PROTOCOL=http1\` (each stream an HTTP/1.1 request on a keep-alive pool). And, for reference, a
node:http2 server answering the same body by itself (\`bench/node-h2-server.ts\`, its CPU in the proxy column, its
ratio to nginx h2c's): node:http2's server side alone. Medians; CPU is the proxy's process tree's, from /proc;
the ratio is the median of the per-round ratios to nginx with the same upstream protocol. h2load reports no
percentiles: the mean request time is its \`time for request\` mean.

${tail}`;
}

export const h2Section: BenchSection = { name: 'h2', switch: 'BENCH_H2', markers: markers('bench-h2-results', 'Latest HTTP/2 run'), needsDrainProxy: true, run };
