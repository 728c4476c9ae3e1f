// npm run soak: drives mixed HTTP/1.1 (keep-alive, new connection, slow), WebSocket and HTTP/2 load through
// drain-proxy for SOAK_DURATION seconds and samples each proxy's resident memory and open fds (/proc), heap used
// and event-loop delay (its own /metrics) every SOAK_SAMPLE_INTERVAL seconds. Two proxies front one app, one per
// UPSTREAM_PROTOCOL (http1: HTTP/2 streams become HTTP/1.1 requests; h2c: stream to stream), each with its own
// load generator. Passes (exit 0) when, after the load stops and a settle period, every proxy's RSS and fds are
// within SOAK_TOLERANCE of the baseline taken after a warm-up, no operation failed, and no proxy exited; else exit 1.
// See docs/reliability.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { numberSetting, runMain, scratchDir } from '../harness/cli.ts';
import { aptGetInstall, commandExists } from '../harness/debian.ts';
import { run, start, type Child } from '../harness/processes.ts';
import { drainProxyBuilt, startDrainProxy, type DrainProxy } from '../harness/drain-proxy.ts';
import { BENCH_PROXY_ENV, IMAGE_ENV } from './session.ts';
import { httpGet, waitFor200 } from '../harness/http.ts';
import { metricValue as metricValueOf } from '../harness/metrics.ts';
import { freePorts } from '../harness/ports.ts';
import { openFds, treeMemory } from '../harness/proc.ts';
import type { SoakLoadConfig, SoakLoadCounts, SoakLoadResult } from './soak-load.ts';

const envNumber = (name: string, fallback: number, min: number, max: number): number => numberSetting(name, process.env[name], fallback, min, max, false);

const settings = {
  durationSeconds: envNumber('SOAK_DURATION', 600, 10, 7 * 24 * 3600),
  warmupSeconds: envNumber('SOAK_WARMUP', 60, 0, 3600),
  settleSeconds: envNumber('SOAK_SETTLE', 60, 10, 3600),
  sampleSeconds: envNumber('SOAK_SAMPLE_INTERVAL', 10, 1, 3600),
  tolerance: envNumber('SOAK_TOLERANCE', 0.10, 0, 10),
  /** Multiplies the number of workers of each kind. */
  concurrency: envNumber('SOAK_CONCURRENCY', 1, 1, 100),
  pauseMs: envNumber('SOAK_PAUSE_MS', 5, 0, 10_000),
  newConnectionPauseMs: envNumber('SOAK_NEW_CONNECTION_PAUSE_MS', 50, 0, 10_000),
  keepAliveTimeout: process.env.SOAK_KEEPALIVE_TIMEOUT ?? '5s',
  /**
   * Node/V8 flags for the proxies. By default the young generation has a fixed size (two 16 MB semi-spaces), so that
   * V8 growing it from 1 MB in steps, at moments of its choosing, does not read as a leak: V8 sizes it from the heap
   * limit (up to two 64 MB semi-spaces on a machine with 8 GB or more), each step moves RSS by tens of MB at once and
   * RSS does not come down after. Empty: V8's defaults.
   */
  proxyNodeFlags: (process.env.SOAK_PROXY_NODE_FLAGS ?? '--min-semi-space-size=16 --max-semi-space-size=16').split(/\s+/).filter((f) => f !== ''),
  /** Also look at the baseline and at the end after glibc's malloc_trim(0) in each proxy (bench/malloc-trim.c). */
  mallocTrim: process.env.SOAK_MALLOC_TRIM === '1',
};

/** The soak's environment reaches the proxies too (MAX_CONNECTIONS or any other drain-proxy variable). */
function startSoakProxy(appPort: number, env: Record<string, string>, trim: MallocTrim | undefined): Promise<DrainProxy> {
  const preload: Record<string, string> = trim === undefined ? {} : { LD_PRELOAD: trim.library, MALLOC_TRIM_DIR: trim.dir };
  return startDrainProxy(appPort, { env: { ...IMAGE_ENV, ...process.env as Record<string, string>, ...BENCH_PROXY_ENV, ...env, ...preload }, nodeFlags: settings.proxyNodeFlags });
}

interface MallocTrim {
  readonly library: string;
  readonly dir: string;
}

/** bench/malloc-trim.c built into a scratch dir (with Debian's gcc, installed when missing). */
async function buildMallocTrim(): Promise<MallocTrim> {
  if (!commandExists('cc')) aptGetInstall(['gcc', 'libc6-dev']);
  const dir = scratchDir('drain-proxy-soak-trim-');
  const library = join(dir, 'malloc-trim.so');
  await run('cc', ['-shared', '-fPIC', '-O2', '-o', library, new URL('malloc-trim.c', import.meta.url).pathname, '-lpthread']);
  return { library, dir };
}

interface TrimmedLook {
  /** What glibc held free when asked (the fast and other bins of every arena), and what it had from the kernel. */
  readonly freeBytes: number;
  readonly systemBytes: number;
  readonly rssBytes: number;
  readonly anonBytes: number;
}

/** Asks the proxy's malloc-trim thread for malloc_info and malloc_trim(0), then reads its memory again. */
async function trimmedLook(trim: MallocTrim, proxy: DrainProxy): Promise<TrimmedLook> {
  const request = join(trim.dir, `${proxy.pid}.trim`);
  writeFileSync(request, '');
  for (const deadline = performance.now() + 10_000; existsSync(request); await sleep(50)) {
    if (performance.now() > deadline) throw new Error(`${proxy.name}: malloc_trim was not done within 10 s (is ${trim.library} preloaded?)`);
  }
  const info = readFileSync(join(trim.dir, `${proxy.pid}.malloc-info.xml`), 'utf8');
  // The totals come last, after the per-arena figures.
  const total = (type: string): number => Number([...info.matchAll(new RegExp(`<total type="${type}" count="\\d+" size="(\\d+)"/>`, 'g'))].at(-1)?.[1] ?? Number.NaN);
  const system = Number([...info.matchAll(/<system type="current" size="(\d+)"\/>/g)].at(-1)?.[1] ?? Number.NaN);
  const memory = treeMemory(proxy.pid);
  return { freeBytes: total('fast') + total('rest'), systemBytes: system, rssBytes: memory.rssBytes, anonBytes: memory.anonBytes };
}

const SCRIPT_DIR = new URL('.', import.meta.url).pathname;
const LEGACY_APP = new URL('../demo/legacy-app.ts', import.meta.url).pathname;

type Phase = 'baseline' | 'load' | 'settle';

interface ProxySample {
  readonly rssBytes: number;
  /** RssAnon: private memory; the rest of VmRSS is file pages (the node binary's code, shared on a node). */
  readonly anonBytes: number;
  /** Memory of JS objects held outside V8's heap: Buffers and ArrayBuffers. */
  readonly externalBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly fds: number;
  readonly lagP99Seconds: number;
  readonly lagMaxSeconds: number;
  readonly connections: number;
}

interface Sample {
  readonly seconds: number;
  readonly phase: Phase;
  readonly proxies: ProxySample[];
  /** Operations completed so far by all load generators (load phase). */
  readonly operations: number;
  readonly errors: number;
}

interface Target {
  readonly name: string;
  readonly proxy: DrainProxy;
}

async function sampleProxy(target: Target): Promise<ProxySample> {
  const { pid } = target.proxy;
  const metrics = await httpGet(`http://127.0.0.1:${target.proxy.adminPort}/metrics`, 5000);
  if (metrics.status !== 200) throw new Error(`${target.name}: /metrics answered ${metrics.status}`);
  const metricValue = (text: string, name: string): number => metricValueOf(text, name) ?? Number.NaN;
  const memory = treeMemory(pid);
  return {
    rssBytes: memory.rssBytes,
    anonBytes: memory.anonBytes,
    externalBytes: metricValue(metrics.body, 'nodejs_external_memory_bytes'),
    fds: openFds(pid),
    heapUsedBytes: metricValue(metrics.body, 'nodejs_heap_size_used_bytes'),
    heapTotalBytes: metricValue(metrics.body, 'nodejs_heap_size_total_bytes'),
    lagP99Seconds: metricValue(metrics.body, 'nodejs_eventloop_lag_p99_seconds'),
    lagMaxSeconds: metricValue(metrics.body, 'nodejs_eventloop_lag_max_seconds'),
    connections: metricValue(metrics.body, 'drain_proxy_connections_active'),
  };
}

interface LoadRun {
  readonly child: Child;
  /** The counts of its latest progress line, or of its result once it has finished. */
  latest(): SoakLoadCounts | undefined;
  result(): SoakLoadResult | undefined;
  readonly finished: Promise<void>;
}

function startLoad(port: number, durationSeconds: number): LoadRun {
  const base = { keepAlive: 4, newConnection: 2, slow: 4, webSocket: 3, h2: 3 };
  const config: SoakLoadConfig = {
    port,
    durationMs: durationSeconds * 1000,
    keepAliveWorkers: base.keepAlive * settings.concurrency,
    newConnectionWorkers: base.newConnection * settings.concurrency,
    slowWorkers: base.slow * settings.concurrency,
    webSocketWorkers: base.webSocket * settings.concurrency,
    h2Workers: base.h2 * settings.concurrency,
    // A bound on top of the time bound: ample for 1 operation per ms per worker.
    maxOpsPerWorker: Math.ceil(durationSeconds * 1000) + 1,
    opTimeoutMs: 15_000,
    pauseMs: settings.pauseMs,
    newConnectionPauseMs: settings.newConnectionPauseMs,
    progressMs: 1000,
  };
  const child = start(process.execPath, [`${SCRIPT_DIR}soak-load.ts`, JSON.stringify(config)], { name: 'soak load generator' });
  const result = (): SoakLoadResult | undefined => {
    const line = child.lastLine('result');
    return line === undefined ? undefined : JSON.parse(line) as SoakLoadResult;
  };
  const latest = (): SoakLoadCounts | undefined => {
    const line = child.lastLine('progress');
    return result()?.counts ?? (line === undefined ? undefined : JSON.parse(line) as SoakLoadCounts);
  };
  const finished = child.exited.then((status) => {
    if (status.code !== 0 || result() === undefined) throw new Error(`${child.describe()}`);
  });
  return { child, latest, result, finished };
}

function operations(counts: SoakLoadCounts | undefined): number {
  if (counts === undefined) return 0;
  return counts.http1KeepAlive + counts.http1NewConnection + counts.http1Slow + counts.webSockets + counts.webSocketMessages + counts.h2Streams;
}

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const ms = (seconds: number): string => (seconds * 1000).toFixed(1);

function sampleRow(sample: Sample): string {
  const cells = sample.proxies.flatMap((p) => [mb(p.rssBytes), mb(p.anonBytes), mb(p.heapUsedBytes), mb(p.heapTotalBytes), mb(p.externalBytes), String(p.fds), String(p.connections), ms(p.lagP99Seconds), ms(p.lagMaxSeconds)]);
  return `| ${sample.seconds.toFixed(0)} | ${sample.phase} | ${cells.join(' | ')} | ${sample.operations} | ${sample.errors} |`;
}

function sampleHeader(targets: readonly Target[]): string {
  const columns = targets.flatMap((t) => [`${t.name} RSS MB`, 'anon MB', 'heap used MB', 'heap total MB', 'external MB', 'fds', 'conns', 'lag p99 ms', 'lag max ms']);
  return [
    `| t (s) | phase | ${columns.join(' | ')} | operations | errors |`,
    `|---:|---|${columns.map(() => '---:').join('|')}|---:|---:|`,
  ].join('\n');
}

async function main(): Promise<number> {
  if (!drainProxyBuilt()) throw new Error('dist/main.js does not exist: run npm run build (npm run soak does)');
  const [appPort] = await freePorts(1);
  // The demo's app; its idle upstream connections outlive the proxies' (KEEPALIVE_TIMEOUT), so that no reuse races their close.
  const app = start(process.execPath, [LEGACY_APP], { name: 'app', env: { PORT: String(appPort), POD_NAME: 'soak-app', KEEPALIVE_MS: '60000' } });
  await waitFor200(`http://127.0.0.1:${appPort}/healthz`, app);
  const proxyEnv = { KEEPALIVE_TIMEOUT: settings.keepAliveTimeout, LOG_LEVEL: 'warn' };
  const trim = settings.mallocTrim ? await buildMallocTrim() : undefined;
  const targets: Target[] = [
    { name: 'http1', proxy: await startSoakProxy(appPort, { ...proxyEnv, UPSTREAM_PROTOCOL: 'http1' }, trim) },
    { name: 'h2c', proxy: await startSoakProxy(appPort, { ...proxyEnv, UPSTREAM_PROTOCOL: 'h2c' }, trim) },
  ];
  const nodeVersion = process.version;
  console.log(`soak: ${settings.durationSeconds} s of load (after ${settings.warmupSeconds} s warm-up), ${settings.settleSeconds} s settle, `
    + `sample every ${settings.sampleSeconds} s, tolerance ${(settings.tolerance * 100).toFixed(0)}%, node ${nodeVersion}, KEEPALIVE_TIMEOUT=${settings.keepAliveTimeout}, `
    + `proxy node flags: ${settings.proxyNodeFlags.length === 0 ? 'none' : settings.proxyNodeFlags.join(' ')}`);
  console.log(`proxies: ${targets.map((t) => `${t.name} (UPSTREAM_PROTOCOL=${t.name}, pid ${t.proxy.pid})`).join(', ')}; app pid ${app.pid}\n`);

  const errors: string[] = [];
  const samples: Sample[] = [];
  const started = performance.now();
  const header = sampleHeader(targets);
  console.log(header);
  const takeSample = async (phase: Phase, loads: readonly LoadRun[]): Promise<Sample> => {
    for (const { proxy } of targets) if (!proxy.running) throw new Error(`${proxy.describe()}:\n${proxy.output()}`);
    const sample: Sample = {
      seconds: (performance.now() - started) / 1000,
      phase,
      proxies: await Promise.all(targets.map(sampleProxy)),
      operations: loads.reduce((sum, load) => sum + operations(load.latest()), 0),
      errors: loads.reduce((sum, load) => sum + (load.latest()?.errors ?? 0), 0),
    };
    samples.push(sample);
    console.log(sampleRow(sample));
    return sample;
  };

  // Warm-up: the same mix for a short while, so that V8 has compiled the hot paths and sized its heap,
  // then a settle, so that the baseline is the idle process it will be compared with at the end.
  if (settings.warmupSeconds > 0) {
    const warmups = targets.map((t) => startLoad(t.proxy.listenPort, settings.warmupSeconds));
    await Promise.all(warmups.map((load) => load.finished));
    for (const load of warmups) {
      if ((load.result()?.counts.errors ?? 0) > 0) errors.push(`warm-up errors: ${JSON.stringify(load.result()?.errorSamples)}`);
    }
    await sleep(Math.min(settings.settleSeconds, 20) * 1000);
  }
  const baseline = await takeSample('baseline', []);
  const trimmedBaseline = trim === undefined ? [] : await Promise.all(targets.map((t) => trimmedLook(trim, t.proxy)));

  // Load, sampled every interval.
  const loads = targets.map((t) => startLoad(t.proxy.listenPort, settings.durationSeconds));
  let loadDone = false;
  const allFinished = Promise.all(loads.map((load) => load.finished)).finally(() => { loadDone = true; });
  allFinished.catch(() => {});
  const loadStart = performance.now();
  for (let index = 1; !loadDone; index += 1) {
    const next = loadStart + index * settings.sampleSeconds * 1000;
    await Promise.race([sleep(Math.max(0, next - performance.now())), allFinished.catch(() => {})]);
    if (loadDone) break;
    await takeSample('load', loads);
    if (performance.now() - loadStart > (settings.durationSeconds + 120) * 1000) throw new Error('load did not stop in time');
  }
  await allFinished;
  const peak = samples.filter((s) => s.phase === 'load');

  // Settle: no load; idle connections close after KEEPALIVE_TIMEOUT.
  const settleStart = performance.now();
  for (let index = 1; index * settings.sampleSeconds <= settings.settleSeconds; index += 1) {
    await sleep(Math.max(0, settleStart + index * settings.sampleSeconds * 1000 - performance.now()));
    await takeSample('settle', loads);
  }
  const final = samples[samples.length - 1];
  const trimmedFinal = trim === undefined ? [] : await Promise.all(targets.map((t) => trimmedLook(trim, t.proxy)));

  for (const [index, load] of loads.entries()) {
    const result = load.result()!;
    if (result.counts.errors > 0) errors.push(`${targets[index].name}: ${result.counts.errors} errors: ${JSON.stringify(result.errorSamples)}`);
  }

  // Verdict.
  const checks: Array<{ what: string; start: string; peak: string; end: string; change: string; pass: boolean }> = [];
  for (const [index, target] of targets.entries()) {
    const b = baseline.proxies[index];
    const f = final.proxies[index];
    const peakOf = (pick: (p: ProxySample) => number): number => Math.max(...peak.map((s) => pick(s.proxies[index])), pick(b));
    const check = (what: string, pick: (p: ProxySample) => number, show: (n: number) => string, gated: boolean): void => {
      const change = (pick(f) - pick(b)) / pick(b);
      checks.push({
        what: `${target.name} ${what}${gated ? '' : ' (not gated)'}`,
        start: show(pick(b)), peak: show(peakOf(pick)), end: show(pick(f)),
        change: `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)}%`,
        pass: !gated || pick(f) <= pick(b) * (1 + settings.tolerance),
      });
    };
    check('RSS MB', (p) => p.rssBytes, mb, true);
    check('open fds', (p) => p.fds, String, true);
    check('RSS anon MB', (p) => p.anonBytes, mb, false);
    check('heap used MB', (p) => p.heapUsedBytes, mb, false);
    check('heap total MB', (p) => p.heapTotalBytes, mb, false);
    check('external MB', (p) => p.externalBytes, mb, false);
    if (trim !== undefined) {
      const compare = (what: string, pick: (look: TrimmedLook) => number): void => {
        const [before, after] = [pick(trimmedBaseline[index]), pick(trimmedFinal[index])];
        const change = (after - before) / before;
        checks.push({ what: `${target.name} ${what} (not gated)`, start: mb(before), peak: '', end: mb(after), change: `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)}%`, pass: true });
      };
      compare('malloc free before the trim MB', (look) => look.freeBytes);
      compare('malloc arenas MB', (look) => look.systemBytes);
      compare('RSS after malloc_trim MB', (look) => look.rssBytes);
      compare('RSS anon after malloc_trim MB', (look) => look.anonBytes);
    }
  }
  const totals = loads.map((load) => load.result()!.counts);
  const sum = (pick: (c: SoakLoadCounts) => number): number => totals.reduce((s, c) => s + pick(c), 0);
  const lagP99Max = Math.max(...peak.flatMap((s) => s.proxies.map((p) => p.lagP99Seconds)));
  const lagMax = Math.max(...peak.flatMap((s) => s.proxies.map((p) => p.lagMaxSeconds)));
  const passed = errors.length === 0 && checks.every((c) => c.pass);

  console.log(`\nbaseline → end (within ${(settings.tolerance * 100).toFixed(0)}% of the baseline to pass):\n`);
  console.log('| check | baseline | peak under load | end of settle | change | pass |\n|---|---:|---:|---:|---:|---|');
  for (const c of checks) console.log(`| ${c.what} | ${c.start} | ${c.peak} | ${c.end} | ${c.change} | ${c.pass ? 'yes' : 'NO'} |`);
  console.log(`\noperations (both proxies): ${sum((c) => c.http1KeepAlive)} HTTP/1.1 keep-alive requests, `
    + `${sum((c) => c.http1NewConnection)} on new connections, ${sum((c) => c.http1Slow)} slow; `
    + `${sum((c) => c.webSockets)} WebSocket sessions with ${sum((c) => c.webSocketMessages)} echoed messages; `
    + `${sum((c) => c.h2Sessions)} HTTP/2 sessions with ${sum((c) => c.h2Streams)} streams; errors ${sum((c) => c.errors)}`);
  console.log(`event-loop delay under load: worst p99 ${ms(lagP99Max)} ms, worst max ${ms(lagMax)} ms (per ${settings.sampleSeconds} s sample)`);
  for (const error of errors) console.log(`error: ${error}`);
  console.log(`\nsoak ${passed ? 'PASSED' : 'FAILED'}`);
  return passed ? 0 : 1;
}

runMain('soak', main);
