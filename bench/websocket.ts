// The WebSocket section of `npm run bench`: echo round trips per second and CPU per round trip
// direct / through nginx / through drain-proxy, then the resident memory each proxy needs per
// idle WebSocket. The app (bench/ws-echo-app.ts) and the load generator (bench/ws-load.ts) run
// as their own processes, so each one's CPU is measured on its own.
// The echo is measured twice: on shared CPUs (every process wherever the scheduler puts it), and
// with a "sidecar CPU" (load generator and app pinned to one CPU, the proxy to another), which is
// how a pod runs a sidecar with its own CPU request.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  measureRun, medianOf, pairedRatios, perRoundTable, rotatingRounds, runsOf, summarize, type BenchRun, type BenchSummary, type ToolResult,
} from '../harness/bench.ts';
import { drainProxyBuilt, startDrainProxy } from '../harness/drain-proxy.ts';
import { httpGet, waitFor200 } from '../harness/http.ts';
import { metricValue, scrape } from '../harness/metrics.ts';
import { freePorts } from '../harness/ports.ts';
import { allowedCpus, connectionsFitting, hardNofileLimit, openFds, treeMemory } from '../harness/proc.ts';
import { run, start, type Child } from '../harness/processes.ts';
import { consoleTable, fixed, markdownTable } from '../harness/tables.ts';
import { onCpus, pinProcessTree, tasksetAvailable } from './affinity.ts';
import { NODE_PIPE, pipeNote, startNodePipe } from './http1.ts';
import { startNginxWebSocketProxy } from './nginx.ts';
import { BENCH_PROXY_ENV, markers, measuredOn, positiveIntegerFromEnv, writeRawOutput, type BenchContext, type BenchSection } from './session.ts';
import type { WsLoadConfig, WsOpenResult } from './ws-load.ts';

const requested = {
  durationSeconds: positiveIntegerFromEnv('BENCH_WS_DURATION', 5),
  warmupSeconds: positiveIntegerFromEnv('BENCH_WS_WARMUP', 1),
  connections: positiveIntegerFromEnv('BENCH_WS_CONNECTIONS', 32),
  idleConnections: positiveIntegerFromEnv('BENCH_WS_IDLE', 10_000),
};

/** Throughput at least this share of direct's; CPU per round trip and memory per idle WebSocket at most these times nginx's. */
export const THROUGHPUT_SHARE_TARGET = 0.9;
export const CPU_RATIO_TARGET = 1.2;
export const MEMORY_RATIO_TARGET = 2;

const MESSAGE_BYTES = 32;
const SETTLE_SECONDS = 2;
/** 127.0.0.2 to 127.0.0.5: each has its own ephemeral ports towards the proxy, and nothing else uses them. */
const SOURCE_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const appEntry = new URL('./ws-echo-app.ts', import.meta.url).pathname;
const loadEntry = new URL('./ws-load.ts', import.meta.url).pathname;
const UNITS = { rate: 'round trips/s', latency: 'p99', operation: 'round trip' };
const wsVersion = (): string =>
  (JSON.parse(readFileSync(new URL('../node_modules/ws/package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface WsTarget {
  readonly name: string;
  readonly port: number;
  readonly proxyPid: number | undefined;
  readonly adminPort?: number;
}

/** The sidecar layout of the pinned echo measurement: which CPUs each process may run on. */
interface CpuPlacement {
  /** The load generator and the app, as the pod's other containers and its clients. */
  readonly loadAndAppCpus: readonly number[];
  /** The proxy (nginx's master and worker, or drain-proxy): its own CPU, as a sidecar's CPU request gives it. */
  readonly proxyCpus: readonly number[];
}

interface WsMemoryMeasurement {
  readonly target: string;
  readonly open: WsOpenResult;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  readonly bytesPerConnection: number;
  readonly fdsBefore: number;
  /** Open descriptors of the proxy tree, after minus before: about 2 per proxied WebSocket. */
  readonly fdDelta: number;
  /** Connections that closed before the measurement was taken. */
  readonly lost: number;
  /** What drain-proxy's /metrics said once they were open: WebSockets it counts, and V8's heap. */
  readonly activeWebSockets?: number | undefined;
  readonly heapUsedBeforeBytes?: number | undefined;
  readonly heapUsedAfterBytes?: number | undefined;
}

/** The settings as run: the idle count may have been lowered to fit the open-file limit. */
interface Settings {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly idleConnections: number;
  readonly nofileLimit: number;
}

/**
 * The open-file limit the WebSocket processes get: enough for 2 descriptors per idle WebSocket
 * in the proxy, if it can be raised that far; raising the hard limit needs CAP_SYS_RESOURCE,
 * which a container may lack, and then the hard limit it has is what there is.
 */
async function nofileLimitFor(idleConnections: number): Promise<number> {
  const wanted = Math.max(65_536, 2 * idleConnections + 4096);
  const hard = hardNofileLimit();
  if (wanted <= hard) return wanted;
  const probe = await run('prlimit', [`--nofile=${wanted}:${wanted}`, '--', 'true'], { allowFailure: true, timeoutMs: 5000 });
  return probe.code === 0 ? wanted : hard;
}

const withNofile = (limit: number): string[] => ['prlimit', `--nofile=${limit}:${limit}`, '--'];

function startLoad(config: WsLoadConfig, settings: Settings, placement?: CpuPlacement): Child {
  const [command, ...args] = [...withNofile(settings.nofileLimit), process.execPath, loadEntry, JSON.stringify(config)];
  return placement === undefined ? start(command, args) : start(...onCpus(placement.loadAndAppCpus, command, args));
}

function loadConfig(mode: WsLoadConfig['mode'], port: number, settings: Settings): WsLoadConfig {
  return {
    mode,
    port,
    path: '/echo',
    connections: mode === 'echo' ? settings.connections : settings.idleConnections,
    sourceAddresses: SOURCE_ADDRESSES,
    openConcurrency: mode === 'echo' ? settings.connections : 256,
    handshakeTimeoutMs: 10_000,
    messageBytes: MESSAGE_BYTES,
    warmupMs: settings.warmupSeconds * 1000,
    durationMs: settings.durationSeconds * 1000,
    // Long enough for the settle and the reading; the bench stops it as soon as it has its figure.
    holdMs: mode === 'echo' ? 10_000 : 60_000 + SETTLE_SECONDS * 1000,
  };
}

async function measureEcho(target: WsTarget, round: number, appPid: number, settings: Settings, placement: CpuPlacement | undefined): Promise<BenchRun> {
  const load = startLoad(loadConfig('echo', target.port, settings), settings, placement);
  try {
    await load.nextLine('ready', 30_000);
    await load.nextLine('start', settings.warmupSeconds * 1000 + 10_000);
    return await measureRun(target, round, appPid, async () =>
      JSON.parse(await load.nextLine('result', settings.durationSeconds * 1000 + 10_000)) as ToolResult, load.pid);
  } finally {
    await load.stop(3000);
  }
}

/** drain-proxy's own view: WebSockets it counts as open, and V8's used heap. */
async function drainProxyMetrics(adminPort: number): Promise<{ webSockets: number | undefined; heapUsed: number | undefined }> {
  const body = await scrape(`http://127.0.0.1:${adminPort}/metrics`) ?? '';
  return { webSockets: metricValue(body, 'drain_proxy_connections_active{protocol="websocket"}'), heapUsed: metricValue(body, 'nodejs_heap_size_used_bytes') };
}

async function measureIdleMemory(target: WsTarget, settings: Settings): Promise<WsMemoryMeasurement> {
  const proxyPid = target.proxyPid!;
  const metricsBefore = target.adminPort === undefined ? undefined : await drainProxyMetrics(target.adminPort);
  await sleep(SETTLE_SECONDS * 1000);
  const rssBeforeBytes = treeMemory(proxyPid).rssBytes;
  const fdsBefore = openFds(proxyPid);
  const load = startLoad(loadConfig('idle', target.port, settings), settings);
  try {
    const open = JSON.parse(await load.nextLine('open', 120_000)) as WsOpenResult;
    if (open.failed > 0) console.warn(`  warning: ${target.name}: ${open.failed} WebSockets failed to open (first: ${open.firstError})`);
    if (open.opened === 0) throw new Error(`${target.name}: no idle WebSocket opened: ${open.firstError}`);
    await sleep(SETTLE_SECONDS * 1000);
    const rssAfterBytes = treeMemory(proxyPid).rssBytes;
    const fdDelta = openFds(proxyPid) - fdsBefore;
    const metricsAfter = target.adminPort === undefined ? undefined : await drainProxyMetrics(target.adminPort);
    console.log(`  ${target.name}: ${open.opened} idle WebSockets opened in ${open.seconds.toFixed(1)} s`);
    return {
      target: target.name,
      open,
      rssBeforeBytes,
      rssAfterBytes,
      bytesPerConnection: (rssAfterBytes - rssBeforeBytes) / open.opened,
      fdsBefore,
      fdDelta,
      lost: Number(load.lastLine('lost') ?? 0),
      activeWebSockets: metricsAfter?.webSockets,
      heapUsedBeforeBytes: metricsBefore?.heapUsed,
      heapUsedAfterBytes: metricsAfter?.heapUsed,
    };
  } finally {
    await load.stop(3000);
    // Let the proxy let go of them before anything else is measured.
    const deadline = performance.now() + 15_000;
    while (openFds(proxyPid) > fdsBefore + 16 && performance.now() < deadline) await sleep(200);
  }
}

/**
 * The sidecar layout: load generator and app on the first CPU this process may use, the proxy on
 * the second. Skipped, with the reason, on a machine with fewer than 2 CPUs or without taskset.
 */
async function sidecarPlacement(): Promise<{ placement: CpuPlacement; skipped?: undefined } | { placement?: undefined; skipped: string }> {
  const cpus = allowedCpus();
  if (cpus.length < 2) return { skipped: `this process may use ${cpus.length} CPU${cpus.length === 1 ? '' : 's'} and a sidecar CPU needs 2` };
  if (!await tasksetAvailable()) return { skipped: 'taskset (util-linux) is not available to pin the processes' };
  return { placement: { loadAndAppCpus: [cpus[0]], proxyCpus: [cpus[1]] } };
}

/** Per-round ratios of `target`'s round trips per second to direct's, taken back to back. */
function sharesOfDirect(summaries: readonly BenchSummary[], target: string): number[] {
  return pairedRatios(runsOf(summaries, target), runsOf(summaries, 'direct'), (run) => run.perSecond);
}

const percent = (value: number | undefined): string => (value === undefined ? 'n/a' : `${(value * 100).toFixed(0)}%`);
const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);

/**
 * The ">= 90% of direct" verdict. It rests on the sidecar-CPU measurement when there is one: in a
 * pod the proxy runs on its own CPU request, while on shared cores any proxy's CPU is taken from
 * the app and the load generator. The shared-CPU shares are given beside it.
 */
function throughputVerdict(shared: readonly BenchSummary[], pinned: readonly BenchSummary[] | undefined, pinnedSkipped?: string): string {
  const measured = pinned ?? shared;
  const shares = sharesOfDirect(measured, 'drain-proxy');
  if (shares.length === 0) return 'drain-proxy was not measured: no throughput verdict.';
  const share = medianOf(shares)!;
  const shareText = (summaries: readonly BenchSummary[], target: string): string => percent(medianOf(sharesOfDirect(summaries, target)));
  const sharedNote = pinned === undefined
    ? ` (no sidecar-CPU measurement: ${pinnedSkipped ?? 'skipped'})`
    : `; on shared CPUs: drain-proxy ${shareText(shared, 'drain-proxy')}, nginx ${shareText(shared, 'nginx')}`;
  return `${share >= THROUGHPUT_SHARE_TARGET ? 'MET' : 'MISSED'}: ${pinned === undefined ? 'on shared CPUs' : 'with a sidecar CPU'}, `
    + `drain-proxy echoes ${(share * 100).toFixed(0)}% of direct's round trips per second (median of per-round ratios; `
    + `rounds ${shares.map((r) => `${(r * 100).toFixed(0)}%`).join(', ')}; target >= ${THROUGHPUT_SHARE_TARGET * 100}%; `
    + `nginx: ${shareText(measured, 'nginx')})${sharedNote}.`;
}

/** drain-proxy's CPU per round trip over nginx's, with a sidecar CPU when measured so (as the throughput verdict), shared beside. */
function cpuVerdict(shared: readonly BenchSummary[], pinned: readonly BenchSummary[] | undefined): string {
  const ratiosIn = (summaries: readonly BenchSummary[]): number[] => pairedRatios(runsOf(summaries, 'drain-proxy'), runsOf(summaries, 'nginx'), (run) => run.proxyCpuUs);
  const ratios = ratiosIn(pinned ?? shared);
  if (ratios.length === 0) return 'drain-proxy was not measured: no CPU verdict.';
  const ratio = medianOf(ratios)!;
  const cpu = (summaries: readonly BenchSummary[], target: string): string => fixed(summaries.find((s) => s.target === target)?.proxyCpuUs, 1);
  const measured = pinned ?? shared;
  return `${ratio <= CPU_RATIO_TARGET ? 'MET' : 'MISSED'}: ${pinned === undefined ? 'on shared CPUs' : 'with a sidecar CPU'}, drain-proxy uses `
    + `${ratio.toFixed(2)}x nginx's CPU per round trip (${cpu(measured, 'drain-proxy')} µs and ${cpu(measured, 'nginx')} µs; median of per-round ratios; `
    + `rounds ${ratios.map((r) => r.toFixed(2)).join(', ')}; target <= ${CPU_RATIO_TARGET}x)`
    + `${pinned === undefined ? '' : `; on shared CPUs ${medianOf(ratiosIn(shared))?.toFixed(2) ?? 'n/a'}x`}${pipeNote(measured)}.`;
}

function memoryVerdict(memory: readonly WsMemoryMeasurement[]): string {
  const nginx = memory.find((m) => m.target === 'nginx');
  const drain = memory.find((m) => m.target === 'drain-proxy');
  if (nginx === undefined || drain === undefined) return 'drain-proxy or nginx was not measured: no memory verdict.';
  const ratio = drain.bytesPerConnection / nginx.bytesPerConnection;
  return `${ratio <= MEMORY_RATIO_TARGET ? 'MET' : 'MISSED'}: drain-proxy holds an idle WebSocket in `
    + `${kib(drain.bytesPerConnection)} KiB of RSS, ${ratio.toFixed(2)}x nginx's ${kib(nginx.bytesPerConnection)} KiB `
    + `(at ${drain.open.opened} connections; target <= ${MEMORY_RATIO_TARGET}x).`;
}

const ECHO_HEADER = ['target', 'round trips/s', 'share of direct', 'p99 ms', 'proxy CPU µs/round trip', 'ratio to nginx', 'app CPU µs/round trip'];

function echoRows(summaries: readonly BenchSummary[]): string[][] {
  return summaries.map((summary) => {
    const cpuRatio = medianOf(pairedRatios(summary.runs, runsOf(summaries, 'nginx'), (run) => run.proxyCpuUs));
    return [
      summary.target,
      fixed(summary.perSecond, 0),
      percent(medianOf(sharesOfDirect(summaries, summary.target))),
      fixed(summary.latencyMs, 2),
      fixed(summary.proxyCpuUs, 1),
      cpuRatio === undefined ? 'n/a' : `${cpuRatio.toFixed(2)}x`,
      fixed(summary.appCpuUs, 1),
    ];
  });
}

const MEMORY_HEADER = ['proxy', 'idle WebSockets', 'RSS before MiB', 'RSS after MiB', 'KiB per WebSocket', 'ratio to nginx', 'descriptors added'];

function memoryRows(memory: readonly WsMemoryMeasurement[]): string[][] {
  const nginx = memory.find((m) => m.target === 'nginx');
  return memory.map((m) => [
    m.target,
    `${m.open.opened}${m.open.failed > 0 ? ` (${m.open.failed} failed)` : ''}${m.lost > 0 ? ` (${m.lost} lost)` : ''}`,
    mib(m.rssBeforeBytes),
    mib(m.rssAfterBytes),
    kib(m.bytesPerConnection),
    nginx === undefined ? 'n/a' : `${(m.bytesPerConnection / nginx.bytesPerConnection).toFixed(2)}x`,
    String(m.fdDelta),
  ]);
}

function heapNote(memory: readonly WsMemoryMeasurement[]): string {
  const drain = memory.find((m) => m.target === 'drain-proxy');
  if (drain?.heapUsedBeforeBytes === undefined || drain.heapUsedAfterBytes === undefined) return '';
  const perConnection = (drain.heapUsedAfterBytes - drain.heapUsedBeforeBytes) / Math.max(1, drain.open.opened);
  return `\nFor drain-proxy, its \`/metrics\` counted ${drain.activeWebSockets ?? 'n/a'} open WebSockets, and V8's used heap went from `
    + `${mib(drain.heapUsedBeforeBytes)} to ${mib(drain.heapUsedAfterBytes)} MiB (${kib(perConnection)} KiB per WebSocket, `
    + `garbage not yet collected included); the rest of the RSS growth is heap reserved but not in use, and native memory `
    + `(libuv handles, malloc).\n`;
}

function echoMarkdown(summaries: readonly BenchSummary[], context: BenchContext): string {
  return `${markdownTable(ECHO_HEADER, echoRows(summaries))}\n\n${perRoundTable(summaries, context.rounds, UNITS, context.cpus)}`;
}

async function runSection(context: BenchContext): Promise<string | undefined> {
  const nofileLimit = await nofileLimitFor(requested.idleConnections);
  const settings: Settings = {
    ...requested,
    idleConnections: Math.min(requested.idleConnections, connectionsFitting(nofileLimit)),
    nofileLimit,
  };
  if (settings.idleConnections < requested.idleConnections) {
    console.warn(`warning: the open-file limit is ${nofileLimit} and cannot be raised (no CAP_SYS_RESOURCE?): `
      + `${settings.idleConnections} idle WebSockets instead of ${requested.idleConnections}, 2 descriptors each in the proxy`);
  }
  const [appPort, nginxPort] = await freePorts(2);
  const [appCommand, ...appArgs] = [...withNofile(nofileLimit), process.execPath, appEntry, String(appPort)];
  const app = start(appCommand, appArgs);
  await waitFor200(`http://127.0.0.1:${appPort}/`, app);
  const nginx = await startNginxWebSocketProxy(join(context.tempDir, 'nginx-ws-proxy'), nginxPort, appPort,
    // 2 per WebSocket, plus 1/8 because nginx starts closing connections still in their handshake
    // ("worker_connections are not enough, reusing connections") once fewer than 1/16 are free.
    { workerConnections: Math.ceil(2 * settings.idleConnections * 1.125) + 1024, nofileLimit });
  const started: Child[] = [app, nginx];
  const targets: WsTarget[] = [
    { name: 'direct', port: appPort, proxyPid: undefined },
    { name: 'nginx', port: nginxPort, proxyPid: nginx.pid },
  ];
  if (drainProxyBuilt()) {
    const drainProxy = await startDrainProxy(appPort, { env: BENCH_PROXY_ENV, wrap: withNofile(nofileLimit) });
    started.push(drainProxy);
    targets.push({ name: 'drain-proxy', port: drainProxy.listenPort, proxyPid: drainProxy.pid, adminPort: drainProxy.adminPort });
    // The floor for any Node proxy, as in the HTTP/1.1 section: echo only, its idle memory is not measured.
    const pipe = await startNodePipe(appPort, 'ok\n');
    targets.push({ name: NODE_PIPE, port: pipe.port, proxyPid: pipe.proxyPid });
  } else {
    console.warn('warning: dist/main.js does not exist; WebSocket figures for direct and nginx only');
  }
  const echoRounds = (placement?: CpuPlacement): Promise<BenchRun[]> =>
    rotatingRounds(targets, context.rounds, UNITS, (target, round) => measureEcho(target, round, app.pid, settings, placement));

  console.log(`\nWebSocket echo, shared CPUs: ${targets.length} targets x ${context.rounds} rounds x ${settings.warmupSeconds + settings.durationSeconds} s, `
    + `${settings.connections} connections doing ping-pong with ${MESSAGE_BYTES}-byte messages\n`);
  const sharedRuns = await echoRounds();
  const summaries = summarize(targets, sharedRuns);
  console.log(`\nWebSocket echo on shared CPUs, medians over ${context.rounds} rounds:\n${consoleTable(ECHO_HEADER, echoRows(summaries))}`);

  const pinning = await sidecarPlacement();
  let pinnedRuns: BenchRun[] = [];
  let pinned: BenchSummary[] | undefined;
  if (pinning.placement === undefined) {
    console.log(`\nWebSocket echo with a sidecar CPU: skipped, ${pinning.skipped}`);
  } else {
    const { loadAndAppCpus, proxyCpus } = pinning.placement;
    console.log(`\nWebSocket echo with a sidecar CPU: load generator and app on CPU ${loadAndAppCpus.join(',')}, `
      + `the proxy on CPU ${proxyCpus.join(',')} (nothing there for direct); same load\n`);
    try {
      await pinProcessTree(app.pid, loadAndAppCpus);
      for (const target of targets) if (target.proxyPid !== undefined) await pinProcessTree(target.proxyPid, proxyCpus);
      pinnedRuns = await echoRounds(pinning.placement);
    } finally {
      // The idle-memory part runs as before, wherever the scheduler puts things.
      for (const child of started) await pinProcessTree(child.pid, allowedCpus());
    }
    pinned = summarize(targets, pinnedRuns);
    console.log(`\nWebSocket echo with a sidecar CPU, medians over ${context.rounds} rounds:\n${consoleTable(ECHO_HEADER, echoRows(pinned))}`);
  }
  const verdict = throughputVerdict(summaries, pinned, pinning.skipped);
  const cpu = cpuVerdict(summaries, pinned);
  console.log(`\n${verdict}\n${cpu}`);

  console.log(`\nWebSocket idle memory: ${settings.idleConnections} connections through each proxy`);
  const memory: WsMemoryMeasurement[] = [];
  for (const target of targets) if (target.proxyPid !== undefined && target.name !== NODE_PIPE) memory.push(await measureIdleMemory(target, settings));
  console.log(`\n${consoleTable(MEMORY_HEADER, memoryRows(memory))}\n\n${memoryVerdict(memory)}`);
  writeRawOutput('last-run-websocket.json', JSON.stringify({ context, settings, sharedRuns, pinnedRuns, memory }, null, 2));
  for (const child of started.reverse()) await child.stop(3000);
  if (!targets.some((target) => target.name === 'drain-proxy')) return undefined;

  const capped = settings.idleConnections >= requested.idleConnections ? '' : ` (${settings.idleConnections}, not ${requested.idleConnections}: `
    + `the open-file limit is ${nofileLimit} and could not be raised, and each proxied WebSocket takes 2 descriptors in the proxy)`;
  const pinnedText = pinning.placement === undefined || pinned === undefined
    ? `Skipped: ${pinning.skipped ?? 'not measured'}. The verdict below rests on the shared-CPU figures.`
    : `Load generator and app pinned to CPU ${pinning.placement.loadAndAppCpus.join(',')}, the proxy to CPU ${pinning.placement.proxyCpus.join(',')} `
      + `(\`taskset\`, every thread); for \`direct\` CPU ${pinning.placement.proxyCpus.join(',')} runs none of them. Same load and rounds as above.

${echoMarkdown(pinned, context)}`;
  return `${measuredOn(context)}
- Versions: Node ${context.versions.node}, nginx ${context.versions.nginx}, ws ${wsVersion()} (echo app)
- Echo load: ${settings.connections} WebSockets, each doing ping-pong round trips of one ${MESSAGE_BYTES}-byte text message, `
    + `${settings.durationSeconds} s measured after a ${settings.warmupSeconds} s warm-up on the same connections, `
    + `${context.rounds} rounds in rotating order; each figure is the median over the rounds
- Idle memory: ${settings.idleConnections} WebSockets opened through each proxy (clients bound to ${SOURCE_ADDRESSES.join(', ')}), `
    + `RSS of the proxy's process tree from \`/proc\` ${SETTLE_SECONDS} s before and ${SETTLE_SECONDS} s after opening them${capped}

**${verdict}**

**${cpu}**

### Echo with a sidecar CPU

${pinnedText}

### Echo on shared CPUs

Load generator, app and proxy wherever the scheduler puts them, on all ${context.cpus} CPUs.

${echoMarkdown(summaries, context)}

### Idle memory

${markdownTable(MEMORY_HEADER, memoryRows(memory))}

**${memoryVerdict(memory)}**
${heapNote(memory)}`;
}

export const webSocketSection: BenchSection = {
  name: 'websocket', switch: 'BENCH_WS', markers: markers('bench-websocket-results', 'Latest WebSocket run'), run: runSection,
};
