// npm run bench: wrk against the app directly, through nginx and through drain-proxy;
// reports req/s, p99 and the proxies' CPU per request (from /proc), and records it in docs/benchmarks.md.
// Then the same for WebSocket echo round trips, and each proxy's memory per idle WebSocket (bench/websocket.ts),
// and HTTP/2: h2load direct and through drain-proxy with either UPSTREAM_PROTOCOL (bench/h2.ts).
import { writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runMain, scratchDir } from '../harness/cli.ts';
import { stopAll } from '../harness/processes.ts';
import { cpuModel, startCpuWindow } from '../harness/proc.ts';
import { drainProxyBuilt, MAIN, startDrainProxy } from '../harness/drain-proxy.ts';
import { httpGet } from '../harness/http.ts';
import { startNginxApp, startNginxProxy } from './nginx.ts';
import { freePorts } from '../harness/ports.ts';
import {
  consoleTable, markdownSection, summarize, verdict, writeResultsSection,
  type Measurement, type RunContext, type TargetName,
} from './report.ts';
import { APP_BODY, BENCH_PROXY_ENV, benchCommand, docPath, h2SettingsFromEnv, positiveIntegerFromEnv, rawOutputDir } from './session.ts';
import { ensureBenchTools, toolVersions } from './tools.ts';
import { runWrk } from './wrk.ts';
import { runWebSocketBench } from './websocket.ts';
import { WS_SECTION } from './ws-report.ts';
import { recordH2Bench } from './h2.ts';

const settings = {
  durationSeconds: positiveIntegerFromEnv('BENCH_DURATION', 10),
  warmupSeconds: positiveIntegerFromEnv('BENCH_WARMUP', 2),
  connections: positiveIntegerFromEnv('BENCH_CONNECTIONS', 32),
  rounds: positiveIntegerFromEnv('BENCH_ROUNDS', 3),
  writeDoc: process.env.BENCH_WRITE_DOC !== '0',
  webSocket: process.env.BENCH_WS !== '0',
  h2: process.env.BENCH_H2 !== '0',
  h2Settings: h2SettingsFromEnv(),
  webSocketSettings: {
    durationSeconds: positiveIntegerFromEnv('BENCH_WS_DURATION', 5),
    warmupSeconds: positiveIntegerFromEnv('BENCH_WS_WARMUP', 1),
    connections: positiveIntegerFromEnv('BENCH_WS_CONNECTIONS', 32),
    rounds: positiveIntegerFromEnv('BENCH_ROUNDS', 3),
    idleConnections: positiveIntegerFromEnv('BENCH_WS_IDLE', 10_000),
  },
};

interface Target {
  readonly name: TargetName;
  readonly url: string;
  /** The proxy's pid, whose process tree's CPU is charged to the proxy; undefined for direct. */
  readonly proxyPid: number | undefined;
}

const tempDir = scratchDir('drain-proxy-bench-');

/** Every target must serve the app's exact body, or the figures compare different work. */
async function checkTargetServesApp(target: Target): Promise<void> {
  const answer = await httpGet(target.url);
  if (answer.status !== 200 || answer.body !== APP_BODY) {
    throw new Error(`${target.name} answered ${answer.status} with ${answer.body.length} bytes, not the app's ${APP_BODY.length}-byte 200`);
  }
}

/** The app echoes the forwarding headers on /check, so the proxies can be seen doing the same header work. */
async function forwardedHeadersSeenByApp(target: Target): Promise<string> {
  const answer = await httpGet(new URL('/check', target.url).href);
  return `X-Forwarded-For: ${answer.headers['x-seen-forwarded-for'] ?? '-'}, X-Forwarded-Proto: ${answer.headers['x-seen-forwarded-proto'] ?? '-'}`;
}

async function measure(target: Target, appPid: number, round: number): Promise<Measurement> {
  await runWrk({ url: target.url, connections: settings.connections, durationSeconds: settings.warmupSeconds });
  const endWindow = startCpuWindow({ proxy: target.proxyPid, app: appPid });
  const wrk = await runWrk({ url: target.url, connections: settings.connections, durationSeconds: settings.durationSeconds });
  const { seconds: { proxy: proxyCpu, app: appCpu }, otherCpuPercent, stealPercent } = endWindow();
  writeFileSync(join(rawOutputDir, `wrk-${target.name}-round${round}.txt`), wrk.rawOutput);
  if (wrk.requests === 0) throw new Error(`${target.name}: wrk completed no request:\n${wrk.rawOutput}`);
  if (wrk.errors > 0) {
    console.warn(`  warning: ${target.name} had ${wrk.errors} errors or non-2xx responses in round ${round}`);
  }
  const usPerRequest = (cpuSeconds: number) => cpuSeconds * 1e6 / wrk.requests;
  return {
    target: target.name,
    round,
    wrk,
    proxyCpuUsPerRequest: target.proxyPid === undefined ? undefined : usPerRequest(proxyCpu),
    appCpuUsPerRequest: usPerRequest(appCpu),
    otherCpuPercent,
    stealPercent,
  };
}

async function main(): Promise<number> {
  ensureBenchTools();
  mkdirSync(rawOutputDir, { recursive: true });
  const versions = await toolVersions();
  const [appPort, nginxPort] = await freePorts(2);

  const app = await startNginxApp(join(tempDir, 'app'), appPort, APP_BODY);
  const nginxProxy = await startNginxProxy(join(tempDir, 'nginx-proxy'), nginxPort, appPort);
  const targets: Target[] = [
    { name: 'direct', url: `http://127.0.0.1:${appPort}/`, proxyPid: undefined },
    { name: 'nginx', url: `http://127.0.0.1:${nginxPort}/`, proxyPid: nginxProxy.pid },
  ];
  if (drainProxyBuilt()) {
    const drainProxy = await startDrainProxy(appPort, { env: BENCH_PROXY_ENV });
    targets.push({ name: 'drain-proxy', url: drainProxy.url('/'), proxyPid: drainProxy.pid });
  } else {
    console.warn(`warning: ${MAIN} does not exist; measuring direct and nginx only`);
  }

  for (const target of targets) {
    await checkTargetServesApp(target);
    if (target.proxyPid !== undefined) console.log(`${target.name} forwards ${await forwardedHeadersSeenByApp(target)}`);
  }

  const perRun = settings.warmupSeconds + settings.durationSeconds;
  console.log(`\n${targets.length} targets x ${settings.rounds} rounds x ${perRun} s `
    + `(about ${Math.ceil(targets.length * settings.rounds * perRun / 60)} min), `
    + `wrk -t1 -c${settings.connections} -d${settings.durationSeconds}s\n`);
  const measurements: Measurement[] = [];
  for (let round = 1; round <= settings.rounds; round += 1) {
    // Rotating the order spreads slow stretches of a shared machine over all targets.
    const rotation = (round - 1) % targets.length;
    const order = [...targets.slice(rotation), ...targets.slice(0, rotation)];
    for (const target of order) {
      const measurement = await measure(target, app.pid, round);
      measurements.push(measurement);
      const cpu = measurement.proxyCpuUsPerRequest ?? measurement.appCpuUsPerRequest;
      console.log(`round ${round}  ${target.name.padEnd(11)} ${measurement.wrk.requestsPerSecond.toFixed(0).padStart(7)} req/s  `
        + `p99 ${measurement.wrk.p99Ms.toFixed(2).padStart(6)} ms  ${cpu.toFixed(1).padStart(5)} µs CPU/req `
        + `(${measurement.proxyCpuUsPerRequest === undefined ? 'app  ' : 'proxy'})  `
        + `other load ${measurement.otherCpuPercent.toFixed(0)}%, steal ${measurement.stealPercent.toFixed(0)}%`);
      // Lets the proxy's idle connections and the kernel settle before the next target's warm-up.
      await sleep(500);
    }
  }

  const summaries = summarize(targets.map((target) => target.name), measurements);
  console.log(`\nmedians over ${settings.rounds} rounds:\n${consoleTable(summaries)}\n\n${verdict(summaries)}`);

  const context: RunContext = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    command: benchCommand(process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : 'node bench/run.ts'),
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    kernel: release(),
    versions,
    connections: settings.connections,
    durationSeconds: settings.durationSeconds,
    warmupSeconds: settings.warmupSeconds,
    rounds: settings.rounds,
    bodyBytes: Buffer.byteLength(APP_BODY),
  };
  writeFileSync(join(rawOutputDir, 'last-run.json'), JSON.stringify({
    context,
    measurements: measurements.map(({ wrk: { rawOutput: _raw, ...wrk }, ...rest }) => ({ ...rest, wrk })),
  }, null, 2));
  const allMeasured = targets.some((target) => target.name === 'drain-proxy');
  if (settings.writeDoc && allMeasured) {
    writeResultsSection(docPath, markdownSection(context, summaries));
    console.log(`\nrecorded in ${docPath}`);
  } else if (settings.writeDoc) {
    console.log(`\n${docPath} left as it was: drain-proxy was not measured`);
  }

  // What every later section reports about the run and the machine.
  const section = {
    tempDir,
    rawOutputDir,
    command: context.command,
    cpuModel: context.cpuModel,
    kernel: context.kernel,
    nginxVersion: versions.nginx,
  };

  if (settings.webSocket) {
    // The HTTP targets would only sit idle through the WebSocket figures.
    await stopAll(3000);
    const webSocket = await runWebSocketBench({ ...section, settings: settings.webSocketSettings });
    if (settings.writeDoc && webSocket.markdown !== undefined) {
      writeResultsSection(docPath, webSocket.markdown, WS_SECTION);
      console.log(`\nWebSocket figures recorded in ${docPath}`);
    }
  }

  if (settings.h2) {
    await stopAll(3000);
    await recordH2Bench({ ...section, settings: settings.h2Settings, body: APP_BODY, bodyBytes: Buffer.byteLength(APP_BODY) }, settings.writeDoc ? docPath : undefined);
  }

  return 0;
}

runMain('bench', main);
