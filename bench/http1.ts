// The HTTP/1.1 section of npm run bench: wrk against the app (nginx with a fixed body) directly, through nginx,
// through drain-proxy and through a raw Node socket pipe (bench/node-pipe.ts, the floor for any Node proxy); req/s,
// p99, and each proxy's CPU per request from /proc, drain-proxy's over nginx's and over the pipe's.
import { join } from 'node:path';
import { loadRounds, median, pairedRatios, reportMedians, runsOf, summarize, type BenchRun, type BenchSummary } from '../harness/bench.ts';
import { drainProxyBuilt, MAIN, startDrainProxy } from '../harness/drain-proxy.ts';
import { startScript } from '../harness/processes.ts';
import { h2Get, httpGet, type HttpAnswer } from '../harness/http.ts';
import { freePorts } from '../harness/ports.ts';
import { fixed } from '../harness/tables.ts';
import { startNginxApp, startNginxProxy, type TlsFiles } from './nginx.ts';
import { APP_BODY, BENCH_PROXY_ENV, markers, measuredOn, positiveIntegerFromEnv, writeRawOutput, type BenchContext, type BenchSection } from './session.ts';
import { runWrk } from './wrk.ts';

const settings = {
  durationSeconds: positiveIntegerFromEnv('BENCH_DURATION', 10),
  warmupSeconds: positiveIntegerFromEnv('BENCH_WARMUP', 2),
  connections: positiveIntegerFromEnv('BENCH_CONNECTIONS', 32),
};

/** drain-proxy's CPU per request at most this times nginx's. */
export const CPU_RATIO_TARGET = 1.3;

export const NODE_PIPE = 'node pipe';

export const UNITS = { rate: 'req/s', latency: 'p99', operation: 'req' };
export const HEADER = ['target', 'req/s', 'p99 ms', 'proxy CPU µs/req', 'ratio to nginx', 'app CPU µs/req'];

export interface Target {
  readonly name: string;
  readonly url: string;
  readonly proxyPid: number | undefined;
}

/**
 * Every target must serve the app's exact body, or the figures compare different work; the proxies show the forwarding
 * headers the app saw (a target that `answersItself` has none). Asked over HTTP/2 when `h2`; `ca`: the one an https
 * target's certificate is signed by.
 */
export async function checkTarget(target: Target & { readonly answersItself?: boolean }, ca?: Buffer, h2 = false): Promise<void> {
  const get = (url: string): Promise<HttpAnswer> => (h2 ? h2Get(url, 5000, ca) : httpGet(url, 2000, ca));
  const answer = await get(target.url);
  if (answer.status !== 200 || answer.body !== APP_BODY) {
    throw new Error(`${target.name} answered ${answer.status} with ${answer.body.length} bytes${h2 ? ' over HTTP/2' : ''}, not the app's ${APP_BODY.length}-byte 200`);
  }
  if (target.proxyPid === undefined || target.answersItself === true) return;
  const { headers } = await get(new URL('/check', target.url).href);
  const seen = (name: string): string => String(headers[`x-seen-${name}`] ?? '-');
  console.log(`${target.name} forwards X-Forwarded-For: ${seen('forwarded-for')}, X-Forwarded-Proto: ${seen('forwarded-proto')}${h2 ? `, Host: ${seen('host')}` : ''}`);
}

/** The verdict rests on the median of the per-round ratios; the pipe's figure, when it ran, beside it. */
export function verdict(summaries: readonly BenchSummary[]): string {
  const ratios = pairedRatios(runsOf(summaries, 'drain-proxy'), runsOf(summaries, 'nginx'), (run) => run.proxyCpuUs);
  if (ratios.length === 0) return 'drain-proxy was not measured: no verdict.';
  const ratio = median(ratios);
  const pipe = pipeNote(summaries);
  return `${ratio <= CPU_RATIO_TARGET ? 'MET' : 'MISSED'}: drain-proxy uses ${ratio.toFixed(2)}x nginx's CPU per request `
    + `(median of per-round ratios; rounds ${ratios.map((r) => r.toFixed(2)).join(', ')}; target <= ${CPU_RATIO_TARGET}x)${pipe}.`;
}

/**
 * The raw Node socket pipe in front of the app, as a target: the floor for any Node proxy. `body`: what the app answers
 * to GET /; `tls`: the pipe terminates TLS with these files, checked against `tls.ca`.
 */
export async function startNodePipe(
  appPort: number, body = APP_BODY, tls?: TlsFiles & { readonly ca: Buffer },
): Promise<Target & { readonly port: number }> {
  const [port] = await freePorts(1);
  const files = tls === undefined ? [] : [tls.certFile, tls.keyFile];
  const pipe = await startScript(NODE_PIPE, new URL('./node-pipe.ts', import.meta.url).pathname, [String(port), String(appPort), ...files]);
  const target = { name: NODE_PIPE, url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/`, proxyPid: pipe.pid, port };
  const answer = await httpGet(target.url, 2000, tls?.ca);
  if (answer.status !== 200 || answer.body !== body) throw new Error(`${NODE_PIPE} answered ${answer.status}, not the app's 200`);
  return target;
}

/**
 * `; a raw Node socket pipe uses Nx nginx's, drain-proxy Mx the pipe's (rounds ...)`, or '' when the pipe was not
 * measured; `names`: the three targets, where a section calls them otherwise.
 */
export function pipeNote(summaries: readonly BenchSummary[], names = { proxy: 'drain-proxy', pipe: NODE_PIPE, nginx: 'nginx' }): string {
  const ratios = (target: string, reference: string): number[] => pairedRatios(runsOf(summaries, target), runsOf(summaries, reference), (run) => run.proxyCpuUs);
  const toPipe = ratios(names.proxy, names.pipe);
  const pipeToNginx = ratios(names.pipe, names.nginx);
  return toPipe.length === 0 ? '' : `; a raw Node socket pipe uses ${median(pipeToNginx).toFixed(2)}x nginx's, `
    + `drain-proxy ${median(toPipe).toFixed(2)}x the pipe's (rounds ${toPipe.map((r) => r.toFixed(2)).join(', ')})`;
}

export function rows(summaries: readonly BenchSummary[]): string[][] {
  const nginxCpu = summaries.find((summary) => summary.target === 'nginx')?.proxyCpuUs;
  return summaries.map((summary) => [
    summary.target,
    fixed(summary.perSecond, 0),
    fixed(summary.latencyMs, 2),
    fixed(summary.proxyCpuUs, 1),
    summary.proxyCpuUs === undefined || nginxCpu === undefined ? 'n/a' : `${(summary.proxyCpuUs / nginxCpu).toFixed(2)}x`,
    fixed(summary.appCpuUs, 1),
  ]);
}

/** The app (nginx with the fixed body), nginx in front of it, and drain-proxy when it is built; each checked. */
export async function startHttp1Targets(context: BenchContext, name: string): Promise<{ appPid: number; appPort: number; targets: Target[] }> {
  const [appPort, nginxPort] = await freePorts(2);
  const app = await startNginxApp(join(context.tempDir, `${name}-app`), appPort, APP_BODY);
  const nginx = await startNginxProxy(join(context.tempDir, `${name}-nginx`), nginxPort, appPort);
  const targets: Target[] = [
    { name: 'direct', url: `http://127.0.0.1:${appPort}/`, proxyPid: undefined },
    { name: 'nginx', url: `http://127.0.0.1:${nginxPort}/`, proxyPid: nginx.pid },
  ];
  if (drainProxyBuilt()) {
    const drainProxy = await startDrainProxy(appPort, { env: BENCH_PROXY_ENV });
    targets.push({ name: 'drain-proxy', url: drainProxy.url('/'), proxyPid: drainProxy.pid });
  } else {
    console.warn(`warning: ${MAIN} does not exist; measuring direct and nginx only`);
  }
  for (const target of targets) await checkTarget(target);
  return { appPid: app.pid, appPort, targets };
}

/** wrk (with `wrkArgs` on top of the section's) against every target, rounds rotated; each run's output kept as `name-TARGET-roundN.txt`. */
export function wrkRounds(context: BenchContext, name: string, targets: readonly Target[], appPid: number, wrkArgs: readonly string[] = []): Promise<BenchRun[]> {
  const command = ['wrk', '-t1', `-c${settings.connections}`, `-d${settings.durationSeconds}s`, ...wrkArgs.map((arg) => (arg.includes(' ') ? `'${arg}'` : arg))].join(' ');
  return loadRounds('HTTP/1.1', targets, context.rounds, UNITS, { ...settings, appPid, command }, async (target, seconds, round) => {
    const wrk = await runWrk(target.url, settings.connections, seconds, wrkArgs);
    if (round !== undefined) writeRawOutput(`${name}-${target.name}-round${round}.txt`, wrk.rawOutput);
    return wrk;
  });
}

/** The load line of a section's record. */
export function wrkLoad(context: BenchContext, wrkArgs = ''): string {
  return `\`wrk -t1 -c${settings.connections} -d${settings.durationSeconds}s --latency${wrkArgs}\` after a ${settings.warmupSeconds} s warm-up, `
    + `${Buffer.byteLength(APP_BODY)}-byte response bodies, ${context.rounds} rounds in rotating order; each figure is the median over the rounds`;
}

async function run(context: BenchContext): Promise<string | undefined> {
  const { appPid, appPort, targets } = await startHttp1Targets(context, 'http1');
  targets.push(await startNodePipe(appPort));
  const runs = await wrkRounds(context, 'wrk', targets, appPid);
  const summaries = summarize(targets, runs);
  const tail = reportMedians('HTTP/1.1', context, UNITS, summaries, HEADER, rows(summaries), [verdict(summaries)], ' req/s');
  writeRawOutput('last-run.json', JSON.stringify({ context, settings, runs }, null, 2));
  if (!targets.some((target) => target.name === 'drain-proxy')) return undefined;
  return `${measuredOn(context)}
- Versions: Node ${context.versions.node}, nginx ${context.versions.nginx}, wrk ${context.versions.wrk}
- Load: ${wrkLoad(context)}
- \`${NODE_PIPE}\` is \`bench/node-pipe.ts\`: a raw Node socket pipe (each connection its own to the app, bytes forwarded as they come, nothing parsed), the floor for any Node proxy

${tail}`;
}

export const http1Section: BenchSection = { name: 'http1', markers: markers('bench-results', 'Latest run'), run };
