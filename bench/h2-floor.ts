// node bench/h2-floor.ts (after npm run build; not part of npm run bench): what node:http2 itself costs per
// request under the HTTP/2 section's load, taken apart, beside nginx and drain-proxy with the same app (nginx over
// h2c) and the same h2load: a node:http2 server answering by itself, the same waiting for trailers, a node:http2
// client keeping as many streams in flight to the app as h2load does (the app leg alone, its own load), and the
// smallest node:http2 proxy (bench/node-h2-proxy.ts). Prints a table of CPU per request, the median of the rounds;
// docs/benchmarks.md ("Where drain-proxy's HTTP/2 CPU goes") quotes it. BENCH_ROUNDS and BENCH_H2_* as in the section.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { measureRun, median, pairedRatios, rotatingRounds, runsOf, summarize, type BenchTarget, type ToolResult } from '../harness/bench.ts';
import { runMain, scratchDir } from '../harness/cli.ts';
import { drainProxyBuilt, MAIN, startDrainProxy } from '../harness/drain-proxy.ts';
import { freePorts } from '../harness/ports.ts';
import { cpuModel } from '../harness/proc.ts';
import { start, startScript, stopAll } from '../harness/processes.ts';
import { consoleTable, fixed } from '../harness/tables.ts';
import { parseH2load, runH2load, settings as h2Settings } from './h2.ts';
import { startNginxH2cApp, startNginxH2Proxy } from './nginx.ts';
import { APP_BODY, BENCH_PROXY_ENV, positiveIntegerFromEnv } from './session.ts';
import { ensureBenchTools } from './tools.ts';

const settings = { rounds: positiveIntegerFromEnv('BENCH_ROUNDS', 3), ...h2Settings };
const UNITS = { rate: 'req/s', latency: 'mean', operation: 'req' };

interface FloorTarget extends BenchTarget {
  /** What h2load talks to; undefined for the client, which is its own load. */
  readonly url: string | undefined;
  readonly what: string;
}

const script = (name: string): string => new URL(`./${name}`, import.meta.url).pathname;

async function h2load(url: string, seconds: number): Promise<ToolResult> {
  return parseH2load(await runH2load(url, seconds));
}

/** bench/`file` started and listening: its pid. */
const listening = async (name: string, file: string, args: readonly string[]): Promise<number> => (await startScript(name, script(file), args)).pid;

async function main(): Promise<number> {
  if (!drainProxyBuilt()) throw new Error(`${MAIN} does not exist: npm run build first`);
  ensureBenchTools();
  const tempDir = scratchDir('drain-proxy-h2-floor-');
  const [h2Port, checkPort, nginxPort, nginxCheckPort, serverPort, trailersPort, proxyPort] = await freePorts(7);
  const app = await startNginxH2cApp(join(tempDir, 'app'), h2Port, checkPort, APP_BODY);
  const concurrency = settings.clients * settings.streams;
  const nginx = await startNginxH2Proxy(join(tempDir, 'nginx'), nginxPort, nginxCheckPort, 'h2c', h2Port, concurrency);
  const drainProxy = await startDrainProxy(h2Port, { env: { ...BENCH_PROXY_ENV, UPSTREAM_PROTOCOL: 'h2c' } });
  const url = (port: number): string => `http://127.0.0.1:${port}/`;
  const targets: FloorTarget[] = [
    { name: 'nginx', what: 'nginx grpc_pass, the bench\'s h2c proxy', url: url(nginxPort), proxyPid: nginx.pid },
    { name: 'server', what: 'a node:http2 server answering by itself', url: url(serverPort), proxyPid: await listening('server', 'node-h2-server.ts', [String(serverPort)]) },
    {
      name: 'server+trailers', what: 'the same, each response waiting for trailers', url: url(trailersPort),
      proxyPid: await listening('server+trailers', 'node-h2-server.ts', [String(trailersPort), 'trailers']),
    },
    { name: 'client', what: `a node:http2 client, ${concurrency} streams in flight to the app`, url: undefined, proxyPid: undefined },
    {
      name: 'smallest proxy', what: 'the smallest node:http2 proxy (bench/node-h2-proxy.ts)', url: url(proxyPort),
      proxyPid: await listening('smallest proxy', 'node-h2-proxy.ts', [String(proxyPort), String(h2Port)]),
    },
    { name: 'drain-proxy', what: 'drain-proxy, UPSTREAM_PROTOCOL=h2c', url: drainProxy.url('/'), proxyPid: drainProxy.pid },
  ];
  const runs = await rotatingRounds(targets, settings.rounds, UNITS, async (target, round) => {
    if (target.url !== undefined) {
      const targetUrl = target.url;
      await h2load(targetUrl, settings.warmupSeconds);
      return measureRun(target, round, app.pid, () => h2load(targetUrl, settings.durationSeconds));
    }
    const client = start(process.execPath, [script('node-h2-client.ts'), String(h2Port), String(concurrency), String(settings.warmupSeconds), String(settings.durationSeconds)], { name: 'client' });
    await client.nextLine('start', (settings.warmupSeconds + 10) * 1000);
    // The client is its own load: its CPU is charged as the proxy's.
    const run = await measureRun({ name: target.name, proxyPid: client.pid }, round, app.pid,
      async () => JSON.parse(await client.nextLine('result', (settings.durationSeconds + 10) * 1000)) as ToolResult);
    await client.exited;
    return run;
  });
  await stopAll(3000);
  const summaries = summarize(targets, runs);
  const toNginx = (name: string): string => {
    const ratios = pairedRatios(runsOf(summaries, name), runsOf(summaries, 'nginx'), (r) => r.proxyCpuUs);
    return ratios.length === 0 ? 'n/a' : `${median(ratios).toFixed(2)}x`;
  };
  const rows = targets.map((target, index) => [target.what, fixed(summaries[index].perSecond, 0), fixed(summaries[index].proxyCpuUs, 1), toNginx(target.name)]);
  console.log(`\nnode:http2 taken apart, ${cpuModel()} (${availableParallelism()} CPUs), h2load -t1 -c${settings.clients} -m${settings.streams}, `
    + `${settings.durationSeconds} s after ${settings.warmupSeconds} s, medians of ${settings.rounds} rounds:\n`
    + consoleTable(['process', 'req/s', 'CPU µs/request', 'x nginx (per-round ratios)'], rows));
  return 0;
}

runMain('h2-floor', main);
