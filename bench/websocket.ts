// The WebSocket part of `npm run bench`: echo round trips per second and CPU per round trip
// direct / through nginx / through drain-proxy, then the resident memory each proxy needs per
// idle WebSocket. The app (bench/ws-echo-app.ts) and the load generator (bench/ws-load.ts) run
// as their own processes, so each one's CPU is measured on its own.
// The echo is measured twice: on shared CPUs (every process wherever the scheduler puts it), and
// with a "sidecar CPU" (load generator and app pinned to one CPU, the proxy to another), which is
// how a pod runs a sidecar with its own CPU request.
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCpus, pinProcessTree, tasksetAvailable } from './affinity.ts';
import { run, start, type Child } from '../harness/processes.ts';
import { drainProxyBuilt, startDrainProxy } from '../harness/drain-proxy.ts';
import { httpGet, waitFor200 } from '../harness/http.ts';
import { startNginxWebSocketProxy } from './nginx.ts';
import { metricValue } from '../harness/metrics.ts';
import { freePorts } from '../harness/ports.ts';
import { allowedCpus, hardNofileLimit, openFds, startCpuWindow, treeMemory } from '../harness/proc.ts';
import type { TargetName } from './report.ts';
import { BENCH_PROXY_ENV, type BenchSectionContext } from './session.ts';
import type { WsEchoResult, WsLoadConfig, WsOpenResult } from './ws-load.ts';
import {
  echoConsoleTable, memoryConsoleTable, memoryVerdict, summarizeEcho, throughputVerdict, webSocketMarkdownSection,
  type CpuPlacement, type WsEchoMeasurement, type WsEchoSummary, type WsMemoryMeasurement, type WsRunContext,
} from './ws-report.ts';

export interface WebSocketBenchSettings {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly rounds: number;
  readonly idleConnections: number;
}

export interface WebSocketBenchOptions extends BenchSectionContext {
  readonly settings: WebSocketBenchSettings;
}

export interface WebSocketBenchOutcome {
  /** The docs/benchmarks.md section, or undefined when drain-proxy was not measured. */
  readonly markdown: string | undefined;
}

const MESSAGE_BYTES = 32;
const SETTLE_SECONDS = 2;
/** 127.0.0.2 to 127.0.0.5: each has its own ephemeral ports towards the proxy, and nothing else uses them. */
const SOURCE_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const appEntry = new URL('./ws-echo-app.ts', import.meta.url).pathname;
const loadEntry = new URL('./ws-load.ts', import.meta.url).pathname;
const wsVersion = (): string =>
  (JSON.parse(readFileSync(new URL('../node_modules/ws/package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface WsTarget {
  readonly name: TargetName;
  readonly port: number;
  readonly proxyPid: number | undefined;
  readonly adminPort?: number;
}

/**
 * Descriptors a proxy needs besides its two per WebSocket (listeners, stdio, epoll, logs: about 25
 * for drain-proxy), with room to spare: with 128, drain-proxy once reset the last 32 of 9,936.
 */
const OWN_DESCRIPTORS = 256;

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

function withNofile(limit: number, command: string, args: readonly string[]): [string, string[]] {
  return ['prlimit', [`--nofile=${limit}:${limit}`, '--', command, ...args]];
}

function startLoad(config: WsLoadConfig, nofileLimit: number, placement?: CpuPlacement): Child {
  const [command, args] = withNofile(nofileLimit, process.execPath, [loadEntry, JSON.stringify(config)]);
  return placement === undefined ? start(command, args) : start(...onCpus(placement.loadAndAppCpus, command, args));
}

/** The settings as run: the idle count may have been lowered to fit the open-file limit. */
interface EffectiveSettings extends WebSocketBenchSettings {
  readonly nofileLimit: number;
}

function loadConfig(mode: WsLoadConfig['mode'], port: number, settings: EffectiveSettings): WsLoadConfig {
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

async function measureEcho(
  target: WsTarget, appPid: number, round: number, settings: EffectiveSettings, placement: CpuPlacement | undefined,
): Promise<WsEchoMeasurement> {
  const load = startLoad(loadConfig('echo', target.port, settings), settings.nofileLimit, placement);
  try {
    await load.nextLine('ready', 30_000);
    await load.nextLine('start', settings.warmupSeconds * 1000 + 10_000);
    const endWindow = startCpuWindow({ proxy: target.proxyPid, app: appPid, load: load.pid });
    const result = JSON.parse(await load.nextLine('result', settings.durationSeconds * 1000 + 10_000)) as WsEchoResult;
    const { seconds: { proxy: proxyCpu, app: appCpu, load: loadCpu }, otherCpuPercent, stealPercent } = endWindow();
    if (result.roundTrips === 0) throw new Error(`${target.name}: no WebSocket round trip completed:\n${load.output()}`);
    if (result.errors > 0) console.warn(`  warning: ${target.name} had ${result.errors} wrong echoes or lost connections in round ${round}`);
    const usPerRoundTrip = (cpuSeconds: number) => cpuSeconds * 1e6 / result.roundTrips;
    return {
      target: target.name,
      round,
      result,
      proxyCpuUsPerRoundTrip: target.proxyPid === undefined ? undefined : usPerRoundTrip(proxyCpu),
      appCpuUsPerRoundTrip: usPerRoundTrip(appCpu),
      loadCpuUsPerRoundTrip: usPerRoundTrip(loadCpu),
      otherCpuPercent,
      stealPercent,
    };
  } finally {
    await load.stop(3000);
  }
}

/** drain-proxy's own view: WebSockets it counts as open, and V8's used heap. */
async function drainProxyMetrics(adminPort: number): Promise<{ webSockets: number | undefined; heapUsed: number | undefined }> {
  try {
    const { body } = await httpGet(`http://127.0.0.1:${adminPort}/metrics`, 5000);
    return {
      webSockets: metricValue(body, 'drain_proxy_connections_active{protocol="websocket"}'),
      heapUsed: metricValue(body, 'nodejs_heap_size_used_bytes'),
    };
  } catch {
    return { webSockets: undefined, heapUsed: undefined };
  }
}

async function measureIdleMemory(target: WsTarget, settings: EffectiveSettings): Promise<WsMemoryMeasurement> {
  const proxyPid = target.proxyPid!;
  const metricsBefore = target.adminPort === undefined ? undefined : await drainProxyMetrics(target.adminPort);
  await sleep(SETTLE_SECONDS * 1000);
  const rssBeforeBytes = treeMemory(proxyPid).rssBytes;
  const fdsBefore = openFds(proxyPid);
  const load = startLoad(loadConfig('idle', target.port, settings), settings.nofileLimit);
  try {
    const open = JSON.parse(await load.nextLine('open', 120_000)) as WsOpenResult;
    if (open.failed > 0) console.warn(`  warning: ${target.name}: ${open.failed} WebSockets failed to open (first: ${open.firstError})`);
    if (open.opened === 0) throw new Error(`${target.name}: no idle WebSocket opened: ${open.firstError}`);
    await sleep(SETTLE_SECONDS * 1000);
    const rssAfterBytes = treeMemory(proxyPid).rssBytes;
    const fdDelta = openFds(proxyPid) - fdsBefore;
    const metricsAfter = target.adminPort === undefined ? undefined : await drainProxyMetrics(target.adminPort);
    const lost = Number(load.lastLine('lost') ?? 0);
    console.log(`  ${target.name}: ${open.opened} idle WebSockets opened in ${open.seconds.toFixed(1)} s`);
    return {
      target: target.name === 'nginx' ? 'nginx' : 'drain-proxy',
      open,
      rssBeforeBytes,
      rssAfterBytes,
      bytesPerConnection: (rssAfterBytes - rssBeforeBytes) / open.opened,
      fdsBefore,
      fdDelta,
      lost,
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

/** Every target for `settings.rounds` rounds, the order rotated each round to spread a slow stretch of a shared machine. */
async function echoRounds(
  targets: readonly WsTarget[], appPid: number, settings: EffectiveSettings, placement: CpuPlacement | undefined,
): Promise<WsEchoMeasurement[]> {
  const measurements: WsEchoMeasurement[] = [];
  for (let round = 1; round <= settings.rounds; round += 1) {
    const rotation = (round - 1) % targets.length;
    const order = [...targets.slice(rotation), ...targets.slice(0, rotation)];
    for (const target of order) {
      const measurement = await measureEcho(target, appPid, round, settings, placement);
      measurements.push(measurement);
      const cpu = measurement.proxyCpuUsPerRoundTrip ?? measurement.appCpuUsPerRoundTrip;
      console.log(`round ${round}  ${target.name.padEnd(11)} ${measurement.result.roundTripsPerSecond.toFixed(0).padStart(7)} round trips/s  `
        + `p99 ${measurement.result.p99Ms.toFixed(2).padStart(6)} ms  ${cpu.toFixed(1).padStart(5)} µs CPU/round trip `
        + `(${measurement.proxyCpuUsPerRoundTrip === undefined ? 'app  ' : 'proxy'})  `
        + `load gen ${measurement.loadCpuUsPerRoundTrip.toFixed(1)} µs, `
        + `other load ${measurement.otherCpuPercent.toFixed(0)}%, steal ${measurement.stealPercent.toFixed(0)}%`);
      await sleep(500);
    }
  }
  return measurements;
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

export async function runWebSocketBench(options: WebSocketBenchOptions): Promise<WebSocketBenchOutcome> {
  const limit = await nofileLimitFor(options.settings.idleConnections);
  const fitting = Math.floor((limit - OWN_DESCRIPTORS) / 2);
  const settings: EffectiveSettings = { ...options.settings, idleConnections: Math.min(options.settings.idleConnections, fitting), nofileLimit: limit };
  if (settings.idleConnections < options.settings.idleConnections) {
    console.warn(`warning: the open-file limit is ${limit} and cannot be raised (no CAP_SYS_RESOURCE?): `
      + `${settings.idleConnections} idle WebSockets instead of ${options.settings.idleConnections}, 2 descriptors each in the proxy`);
  }
  const [appPort, nginxPort] = await freePorts(2);

  // Started here, stopped at the end of this section; on an error run.ts stops whatever is left.
  const started: Child[] = [];
  const [appCommand, appArgs] = withNofile(limit, process.execPath, [appEntry, String(appPort)]);
  const app = start(appCommand, appArgs);
  started.push(app);
  await waitFor200(`http://127.0.0.1:${appPort}/`, app);
  const nginx = await startNginxWebSocketProxy(join(options.tempDir, 'nginx-ws-proxy'), nginxPort, appPort,
    // 2 per WebSocket, plus 1/8 because nginx starts closing connections still in their handshake
    // ("worker_connections are not enough, reusing connections") once fewer than 1/16 are free.
    { workerConnections: Math.ceil(2 * settings.idleConnections * 1.125) + 1024, nofileLimit: limit });
  started.push(nginx);
  const targets: WsTarget[] = [
    { name: 'direct', port: appPort, proxyPid: undefined },
    { name: 'nginx', port: nginxPort, proxyPid: nginx.pid },
  ];
  if (drainProxyBuilt()) {
    const drainProxy = await startDrainProxy(appPort, { env: BENCH_PROXY_ENV, wrap: ['prlimit', `--nofile=${limit}:${limit}`, '--'] });
    started.push(drainProxy);
    targets.push({ name: 'drain-proxy', port: drainProxy.listenPort, proxyPid: drainProxy.pid, adminPort: drainProxy.adminPort });
  } else {
    console.warn('warning: dist/main.js does not exist; WebSocket figures for direct and nginx only');
  }

  const perRun = settings.warmupSeconds + settings.durationSeconds;
  console.log(`\nWebSocket echo, shared CPUs: ${targets.length} targets x ${settings.rounds} rounds x ${perRun} s, `
    + `${settings.connections} connections doing ping-pong with ${MESSAGE_BYTES}-byte messages\n`);
  const measurements = await echoRounds(targets, app.pid, settings, undefined);
  const summaries = summarizeEcho(targets.map((target) => target.name), measurements);
  console.log(`\nWebSocket echo on shared CPUs, medians over ${settings.rounds} rounds:\n${echoConsoleTable(summaries)}`);

  const pinning = await sidecarPlacement();
  let pinnedMeasurements: WsEchoMeasurement[] = [];
  let pinnedSummaries: WsEchoSummary[] | undefined;
  if (pinning.placement === undefined) {
    console.log(`\nWebSocket echo with a sidecar CPU: skipped, ${pinning.skipped}`);
  } else {
    const { placement } = pinning;
    console.log(`\nWebSocket echo with a sidecar CPU: load generator and app on CPU ${placement.loadAndAppCpus.join(',')}, `
      + `the proxy on CPU ${placement.proxyCpus.join(',')} (nothing there for direct); same load\n`);
    try {
      await pinProcessTree(app.pid, placement.loadAndAppCpus);
      for (const target of targets) {
        if (target.proxyPid !== undefined) await pinProcessTree(target.proxyPid, placement.proxyCpus);
      }
      pinnedMeasurements = await echoRounds(targets, app.pid, settings, placement);
    } finally {
      // The idle-memory part runs as before, wherever the scheduler puts things.
      const everywhere = allowedCpus();
      for (const child of started) await pinProcessTree(child.pid, everywhere);
    }
    pinnedSummaries = summarizeEcho(targets.map((target) => target.name), pinnedMeasurements);
    console.log(`\nWebSocket echo with a sidecar CPU, medians over ${settings.rounds} rounds:\n${echoConsoleTable(pinnedSummaries)}`);
  }
  console.log(`\n${throughputVerdict(summaries, pinnedSummaries, pinning.skipped)}`);

  console.log(`\nWebSocket idle memory: ${settings.idleConnections} connections through each proxy`);
  const memory: WsMemoryMeasurement[] = [];
  for (const target of targets) {
    if (target.proxyPid !== undefined) memory.push(await measureIdleMemory(target, settings));
  }
  console.log(`\n${memoryConsoleTable(memory)}\n\n${memoryVerdict(memory)}`);

  const context: WsRunContext = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    command: options.command,
    cpus: availableParallelism(),
    cpuModel: options.cpuModel,
    kernel: options.kernel,
    versions: { node: process.version, nginx: options.nginxVersion, ws: wsVersion() },
    connections: settings.connections,
    durationSeconds: settings.durationSeconds,
    warmupSeconds: settings.warmupSeconds,
    rounds: settings.rounds,
    messageBytes: MESSAGE_BYTES,
    idleConnections: settings.idleConnections,
    requestedIdleConnections: options.settings.idleConnections,
    nofileLimit: settings.nofileLimit,
    sourceAddresses: SOURCE_ADDRESSES,
    settleSeconds: SETTLE_SECONDS,
    placement: pinning.placement,
    pinnedSkipped: pinning.skipped,
  };
  writeFileSync(join(options.rawOutputDir, 'last-run-websocket.json'),
    JSON.stringify({ context, measurements, pinnedMeasurements, memory }, null, 2));

  for (const child of started.reverse()) await child.stop(3000);
  const measuredDrainProxy = targets.some((target) => target.name === 'drain-proxy');
  return { markdown: measuredDrainProxy ? webSocketMarkdownSection(context, summaries, pinnedSummaries, memory) : undefined };
}
