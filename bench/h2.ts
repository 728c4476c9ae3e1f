// The HTTP/2 section of npm run bench (and of node bench/h2-run.ts, which runs it alone): h2load
// (nghttp2-client) against an h2c app (nginx, HTTP/2 with prior knowledge) directly, and through two
// proxies doing the same job for each upstream protocol:
//   h2c:   nginx `grpc_pass grpc://` | drain-proxy UPSTREAM_PROTOCOL=h2c   (stream to stream)
//   http1: nginx `proxy_pass` HTTP/1.1 | drain-proxy UPSTREAM_PROTOCOL=http1 (each stream an HTTP/1.1 request)
// in one run, rounds rotated; reports req/s, mean request time, each proxy's CPU per request (from
// /proc) and drain-proxy's CPU per request over nginx's for the same upstream protocol (median of
// the per-round ratios, as the HTTP/1.1 section does).
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, stopAll } from '../harness/processes.ts';
import { startCpuWindow } from '../harness/proc.ts';
import { drainProxyBuilt, startDrainProxy } from '../harness/drain-proxy.ts';
import { startNginxH2cApp, startNginxH2Proxy, type H2UpstreamProtocol } from './nginx.ts';
import { freePorts } from '../harness/ports.ts';
import { loadNote, markdownTable, perRoundTable, writeResultsSection } from './report.ts';
import { BENCH_PROXY_ENV, type BenchSectionContext } from './session.ts';
import { median } from './stats.ts';

export interface H2BenchSettings {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  /** h2load -c: client connections. */
  readonly clients: number;
  /** h2load -m: concurrent streams per connection. */
  readonly streams: number;
  readonly rounds: number;
}

export const H2_SECTION = {
  begin: '<!-- bench-h2-results:begin (rewritten by npm run bench) -->',
  end: '<!-- bench-h2-results:end -->',
  heading: 'Latest HTTP/2 run',
} as const;

type H2TargetName = 'direct' | 'nginx h2c' | 'drain-proxy h2c' | 'nginx http1' | 'drain-proxy http1';

interface H2Target {
  readonly name: H2TargetName;
  readonly url: string;
  readonly proxyPid: number | undefined;
  /** drain-proxy's targets: the nginx target doing the same job, its CPU the ratio's denominator. */
  readonly pairedWith?: H2TargetName;
}

interface H2loadResult {
  readonly requests: number;
  readonly failed: number;
  readonly requestsPerSecond: number;
  readonly meanMs: number;
  readonly rawOutput: string;
}

interface H2Measurement {
  readonly target: H2TargetName;
  readonly round: number;
  readonly result: H2loadResult;
  readonly proxyCpuUsPerRequest: number | undefined;
  readonly appCpuUsPerRequest: number;
  /** CPU used by processes other than app, proxy, h2load and the bench, as a share of all CPUs. */
  readonly otherCpuPercent: number;
  readonly stealPercent: number;
}

function toMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

export function parseH2load(output: string): H2loadResult {
  const finished = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(output);
  const requests = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(output);
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(output);
  if (finished === null || requests === null || time === null) throw new Error(`h2load output not understood:\n${output}`);
  return {
    requests: Number(requests[2]),
    failed: Number(requests[3]) + Number(requests[4]),
    requestsPerSecond: Number(finished[1]),
    meanMs: toMs(time[3]),
    rawOutput: output,
  };
}

async function runH2load(url: string, settings: H2BenchSettings, durationSeconds: number): Promise<H2loadResult> {
  const { stdout, stderr } = await run(
    'h2load',
    ['-t', '1', '-c', String(settings.clients), '-m', String(settings.streams), '-D', String(durationSeconds), url],
    { timeoutMs: (durationSeconds + 30) * 1000, allowFailure: true },
  );
  return parseH2load(stdout + stderr);
}

async function measure(target: H2Target, appPid: number, settings: H2BenchSettings, round: number, rawOutputDir: string): Promise<H2Measurement> {
  await runH2load(target.url, settings, settings.warmupSeconds);
  const endWindow = startCpuWindow({ proxy: target.proxyPid, app: appPid });
  const result = await runH2load(target.url, settings, settings.durationSeconds);
  const { seconds: { proxy, app }, otherCpuPercent, stealPercent } = endWindow();
  writeFileSync(join(rawOutputDir, `h2load-${target.name.replace(/ /g, '-')}-round${round}.txt`), result.rawOutput);
  if (result.requests === 0) throw new Error(`${target.name}: h2load completed no request:\n${result.rawOutput}`);
  if (result.failed > 0) console.warn(`  warning: ${target.name} had ${result.failed} failed or errored requests in round ${round}`);
  return {
    target: target.name,
    round,
    result,
    proxyCpuUsPerRequest: target.proxyPid === undefined ? undefined : proxy * 1e6 / result.requests,
    appCpuUsPerRequest: app * 1e6 / result.requests,
    otherCpuPercent,
    stealPercent,
  };
}

/** GET over h2c with prior knowledge: status, headers and body. */
function h2Get(url: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(new URL(url).origin);
    session.on('error', reject);
    const stream = session.request({ ':path': new URL(url).pathname });
    let headers: IncomingHttpHeaders = {};
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (headers = h));
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('error', reject);
    stream.on('end', () => {
      session.close();
      resolve({ status: Number(headers[':status']), headers, body });
    });
    stream.end();
  });
}

/** Every target must serve the app's exact body; proxies show the forwarding headers the app saw. */
async function checkTarget(target: H2Target, body: string): Promise<void> {
  const answer = await h2Get(target.url);
  if (answer.status !== 200 || answer.body !== body) {
    throw new Error(`${target.name} answered ${answer.status} with ${answer.body.length} bytes over h2c, not the app's ${body.length}-byte 200`);
  }
  if (target.proxyPid === undefined) return;
  const { headers } = await h2Get(new URL('/check', target.url).href);
  const seen = (name: string) => String(headers[`x-seen-${name}`] ?? '-');
  console.log(`${target.name} forwards X-Forwarded-For: ${seen('forwarded-for')}, X-Forwarded-Proto: ${seen('forwarded-proto')}, Host: ${seen('host')}`);
}

interface H2Summary {
  readonly target: H2TargetName;
  readonly runs: readonly H2Measurement[];
  readonly requestsPerSecond: number;
  readonly meanMs: number;
  readonly proxyCpuUsPerRequest: number | undefined;
  /** drain-proxy's targets: per-round CPU per request over the paired nginx target's. */
  readonly ratios: readonly number[];
  readonly failed: number;
}

function summarize(targets: readonly H2Target[], measurements: readonly H2Measurement[]): H2Summary[] {
  return targets.map(({ name, pairedWith }) => {
    const runs = measurements.filter((m) => m.target === name);
    const cpu = runs.flatMap((m) => (m.proxyCpuUsPerRequest === undefined ? [] : [m.proxyCpuUsPerRequest]));
    // Each round's pair ran close together: a round's ratio is less exposed to the machine drifting than a ratio of medians.
    const ratios = pairedWith === undefined ? [] : runs.flatMap((run) => {
      const nginx = measurements.find((m) => m.target === pairedWith && m.round === run.round)?.proxyCpuUsPerRequest;
      return run.proxyCpuUsPerRequest === undefined || nginx === undefined ? [] : [run.proxyCpuUsPerRequest / nginx];
    });
    return {
      target: name,
      runs,
      requestsPerSecond: median(runs.map((m) => m.result.requestsPerSecond)),
      meanMs: median(runs.map((m) => m.result.meanMs)),
      proxyCpuUsPerRequest: cpu.length === 0 ? undefined : median(cpu),
      ratios,
      failed: runs.reduce((sum, m) => sum + m.result.failed, 0),
    };
  });
}

const HEADER = ['target', 'req/s', 'mean request time (ms)', 'proxy CPU µs/request', 'ratio to nginx (same upstream)', 'app CPU µs/request', 'failed'];

function rows(summaries: readonly H2Summary[]): string[][] {
  return summaries.map((s) => [
    s.target,
    s.requestsPerSecond.toFixed(0),
    s.meanMs.toFixed(2),
    s.proxyCpuUsPerRequest === undefined ? '-' : s.proxyCpuUsPerRequest.toFixed(1),
    s.ratios.length > 0 ? `${median(s.ratios).toFixed(2)}x` : s.target.startsWith('nginx') ? '1.00x' : '-',
    median(s.runs.map((run) => run.appCpuUsPerRequest)).toFixed(1),
    String(s.failed),
  ]);
}

/** One line per upstream protocol: drain-proxy's CPU per request over nginx's, and each round's ratio. */
function ratioLines(summaries: readonly H2Summary[]): string[] {
  return summaries.filter((s) => s.ratios.length > 0).map((s) => {
    const upstream = s.target.replace('drain-proxy ', '');
    const nginx = summaries.find((other) => other.target === `nginx ${upstream}`);
    return `${upstream} upstream: drain-proxy ${s.proxyCpuUsPerRequest?.toFixed(1)} µs/request, nginx ${nginx?.proxyCpuUsPerRequest?.toFixed(1)}: `
      + `${median(s.ratios).toFixed(2)}x nginx's CPU per request (median of per-round ratios; rounds ${s.ratios.map((r) => r.toFixed(2)).join(', ')})`;
  });
}

function consoleTable(summaries: readonly H2Summary[]): string {
  const all = [HEADER, ...rows(summaries)];
  const widths = HEADER.map((_, column) => Math.max(...all.map((row) => row[column].length)));
  return all.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ')).join('\n');
}

export interface H2BenchContext extends BenchSectionContext {
  readonly settings: H2BenchSettings;
  readonly bodyBytes: number;
  readonly body: string;
}

/** Runs the HTTP/2 figures; resolves with the markdown section, or undefined when drain-proxy is not built. */
/** Runs the HTTP/2 section and, when asked, records it in its section of `docPath` (the others stay as they are). */
export async function recordH2Bench(context: H2BenchContext, docPath: string | undefined): Promise<void> {
  const h2 = await runH2Bench(context);
  if (docPath !== undefined && h2.markdown !== undefined) {
    writeResultsSection(docPath, h2.markdown, H2_SECTION);
    console.log(`\nHTTP/2 figures recorded in ${docPath}`);
  }
}

export async function runH2Bench(context: H2BenchContext): Promise<{ markdown: string | undefined }> {
  const { settings } = context;
  if (!drainProxyBuilt()) {
    console.warn('warning: dist/main.js does not exist; no HTTP/2 figures');
    return { markdown: undefined };
  }
  const [h2Port, http1Port, nginxH2cPort, nginxH2cCheckPort, nginxHttp1Port, nginxHttp1CheckPort] = await freePorts(6);
  const concurrency = settings.clients * settings.streams;
  const app = await startNginxH2cApp(join(context.tempDir, 'h2c-app'), h2Port, http1Port, context.body);
  const nginxProxy = (upstream: H2UpstreamProtocol, port: number, checkPort: number) => startNginxH2Proxy(
    join(context.tempDir, `nginx-h2-${upstream}`), port, checkPort, upstream, upstream === 'h2c' ? h2Port : http1Port, concurrency);
  const nginxH2c = await nginxProxy('h2c', nginxH2cPort, nginxH2cCheckPort);
  const nginxHttp1 = await nginxProxy('http1', nginxHttp1Port, nginxHttp1CheckPort);
  const viaH2c = await startDrainProxy(h2Port, { env: { ...BENCH_PROXY_ENV, UPSTREAM_PROTOCOL: 'h2c' } });
  const viaHttp1 = await startDrainProxy(http1Port, { env: { ...BENCH_PROXY_ENV, UPSTREAM_PROTOCOL: 'http1' } });
  const url = (port: number) => `http://127.0.0.1:${port}/`;
  const targets: H2Target[] = [
    { name: 'direct', url: url(h2Port), proxyPid: undefined },
    { name: 'nginx h2c', url: url(nginxH2cPort), proxyPid: nginxH2c.pid },
    { name: 'drain-proxy h2c', url: viaH2c.url('/'), proxyPid: viaH2c.pid, pairedWith: 'nginx h2c' },
    { name: 'nginx http1', url: url(nginxHttp1Port), proxyPid: nginxHttp1.pid },
    { name: 'drain-proxy http1', url: viaHttp1.url('/'), proxyPid: viaHttp1.pid, pairedWith: 'nginx http1' },
  ];
  for (const target of targets) await checkTarget(target, context.body);
  const version = await run('h2load', ['--version'], { allowFailure: true });
  const h2loadVersion = /nghttp2\/(\S+)/.exec(version.stdout + version.stderr)?.[1] ?? 'unknown';
  const perRun = settings.warmupSeconds + settings.durationSeconds;
  console.log(`\nHTTP/2: ${targets.length} targets x ${settings.rounds} rounds x ${perRun} s `
    + `(about ${Math.ceil(targets.length * settings.rounds * (perRun + 0.5) / 60)} min), `
    + `h2load -t1 -c${settings.clients} -m${settings.streams} -D${settings.durationSeconds}\n`);
  const measurements: H2Measurement[] = [];
  for (let round = 1; round <= settings.rounds; round += 1) {
    // Rotating the order spreads slow stretches of a shared machine over all targets.
    const rotation = (round - 1) % targets.length;
    for (const target of [...targets.slice(rotation), ...targets.slice(0, rotation)]) {
      const m = await measure(target, app.pid, settings, round, context.rawOutputDir);
      measurements.push(m);
      const cpu = m.proxyCpuUsPerRequest ?? m.appCpuUsPerRequest;
      console.log(`round ${round}  ${target.name.padEnd(18)} ${m.result.requestsPerSecond.toFixed(0).padStart(7)} req/s  `
        + `mean ${m.result.meanMs.toFixed(2).padStart(6)} ms  ${cpu.toFixed(1).padStart(5)} µs CPU/req `
        + `(${m.proxyCpuUsPerRequest === undefined ? 'app  ' : 'proxy'})  `
        + `other load ${m.otherCpuPercent.toFixed(0)}%, steal ${m.stealPercent.toFixed(0)}%`);
      await sleep(500);
    }
  }
  await stopAll(3000);
  const summaries = summarize(targets, measurements);
  const ratios = ratioLines(summaries);
  console.log(`\nHTTP/2 medians over ${settings.rounds} rounds:\n${consoleTable(summaries)}\n\n${ratios.join('\n')}`);
  const roundCell = (run: H2Measurement) =>
    `${run.result.requestsPerSecond.toFixed(0)}/s, ${(run.proxyCpuUsPerRequest ?? run.appCpuUsPerRequest).toFixed(1)} µs ${loadNote(run)}`;
  const markdown = `Run ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} with \`${context.command}\` on ${context.cpuModel} (Linux ${context.kernel}):
h2load ${h2loadVersion} (\`-t1 -c${settings.clients} -m${settings.streams}\`, ${settings.warmupSeconds} s warm-up, ${settings.durationSeconds} s measured, ${settings.rounds} rounds, order rotated)
against nginx ${context.nginxVersion} serving a ${context.bodyBytes}-byte body over h2c (one worker): directly, and through
two proxies per upstream protocol, each with one worker or thread and the same header work (Host kept,
X-Forwarded-For appended, X-Forwarded-Proto set). h2c upstream: nginx \`grpc_pass grpc://\` (one upstream
connection per request in flight, kept alive) and drain-proxy \`UPSTREAM_PROTOCOL=h2c\` (one HTTP/2 session to
the app, stream to stream). http1 upstream: nginx \`proxy_pass\` (HTTP/1.1, keep-alive pool) and drain-proxy
\`UPSTREAM_PROTOCOL=http1\` (each stream an HTTP/1.1 request on a keep-alive pool). Medians; CPU is the proxy's
process tree's, from /proc; the ratio is the median of the per-round ratios to nginx with the same upstream
protocol. h2load reports no percentiles: the mean request time is its \`time for request\` mean.

${markdownTable(HEADER, rows(summaries))}

${ratios.map((line) => `- **${line}**`).join('\n')}

Per round: req/s; CPU µs per request of the proxy (of the app for \`direct\`); in parentheses, the CPU that other
processes on the machine used meanwhile and the hypervisor's steal, as shares of all ${availableParallelism()} CPUs:

${perRoundTable(summaries, settings.rounds, roundCell)}
`;
  return { markdown };
}
