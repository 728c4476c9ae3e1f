// npm run abuse: each abusive client shape (test/helpers/abuse.ts) for a fixed time against drain-proxy and
// against nginx configured as in the bench (bench/nginx.ts), each target fresh for each shape, the app an nginx
// as in the bench. Reports, per shape and target: peak resident memory over idle (VmRSS and RssAnon, the
// process tree's), the bytes the app received meanwhile (counted by a relay in front of it), whether a well-behaved
// client kept getting answers (a GET on a new connection every 200 ms, 2 s timeout; over HTTP/2 too for HTTP/2 shapes), and for drain-proxy its
// V8 heap in use idle and ABUSE_SETTLE seconds after the clients left, and what its limits counted.
// Records the table in docs/reliability.md.
//
// Targets: drain-proxy's peak RSS rise at most 96 MB over idle in every shape; heap in use back within 2x
// its idle value after the settle period.
import { connect } from 'node:net';
import { availableParallelism, release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runMain, scratchDir } from '../harness/cli.ts';
import { drainProxyBuilt, MAIN, startDrainProxy, type DrainProxy } from '../harness/drain-proxy.ts';
import { h2Get, httpGet } from '../harness/http.ts';
import { metricValue } from '../harness/metrics.ts';
import { chartMemoryLimit, podMemory } from '../harness/memory-limit.ts';
import { freePorts } from '../harness/ports.ts';
import { cpuModel, treeMemory, type Memory } from '../harness/proc.ts';
import { run, startScript, type Child } from '../harness/processes.ts';
import { markdownTable } from '../harness/tables.ts';
import { startNginxApp, startNginxH2Proxy, startNginxProxy } from './nginx.ts';
import { APP_BODY, BENCH_PROXY_ENV, benchCommand, markers, positiveIntegerFromEnv, writeResultsSection } from './session.ts';
import { ensureBenchTools, toolVersions } from './tools.ts';
import { ABUSE_SHAPES, type AbuseShape, type AbuseStats } from '../test/helpers/abuse.ts';

const MB = 1e6;
const RSS_RISE_TARGET_MB = 96;
const HEAP_SETTLE_FACTOR = 2;

/** Connections each shape keeps open at once. */
const CONNECTIONS: Record<AbuseShape, number> = {
  'h1-pipeline': 20,
  'h2-rapid-reset': 2,
  'h2-unread': 20,
  'h2-large-headers': 20,
  'h2-settings-flood': 4,
  'h2-ping-flood': 4,
  'h2-empty-data': 4,
  'h2-continuation': 4,
};

const settings = {
  seconds: positiveIntegerFromEnv('ABUSE_SECONDS', 10),
  settleSeconds: positiveIntegerFromEnv('ABUSE_SETTLE', 30),
  shapes: (process.env.ABUSE_SHAPES ?? ABUSE_SHAPES.join(',')).split(',').map((s) => s.trim()).filter(Boolean) as AbuseShape[],
  targets: (process.env.ABUSE_TARGETS ?? 'drain-proxy,nginx').split(',').map((s) => s.trim()),
  writeDoc: process.env.BENCH_WRITE_DOC !== '0',
  /** drain-proxy's MEMORY_LIMIT: the chart's default limit, as the chart sets it (in bytes, from the downward API). */
  memoryLimit: process.env.ABUSE_MEMORY_LIMIT ?? String(chartMemoryLimit().bytes),
  /** Node flags of drain-proxy on top of the pod's memory (`harness/memory-limit.ts`). */
  proxyNodeFlags: (process.env.ABUSE_PROXY_NODE_FLAGS ?? '').split(' ').filter(Boolean),
};
for (const shape of settings.shapes) if (!ABUSE_SHAPES.includes(shape)) throw new Error(`ABUSE_SHAPES: unknown shape ${shape} (known: ${ABUSE_SHAPES.join(', ')})`);

const repoRoot = new URL('..', import.meta.url).pathname;
const docPath = join(repoRoot, 'docs', 'reliability.md');
const SECTION = markers('abuse-results', 'Latest abuse run', 'npm run abuse');

const tempDir = scratchDir('drain-proxy-abuse-');
/**
 * drain-proxy runs under the chart's memory limit, as in a pod: Node sizes V8's heap from it (for 256 MiB, two 1 MiB
 * semi-spaces, where this machine without a limit lets them grow to 64 MiB and keeps the pages). One cgroup serves
 * every shape's fresh drain-proxy in turn.
 */
const pod = podMemory();

/** The process tree's memory (nginx's master and worker), nothing once it is gone. */
function memoryOf(pid: number): Memory | undefined {
  try {
    return treeMemory(pid);
  } catch {
    return undefined;
  }
}

/** The byte-counting relay (bench/abuse-relay.ts) in front of the app, in a process of its own: an abused proxy may open thousands of connections to the app. */
async function startCountingRelay(appPort: number): Promise<{ port: number; received: () => Promise<number> }> {
  const [port, controlPort] = await freePorts(2);
  await startScript('counting relay', join(repoRoot, 'bench', 'abuse-relay.ts'), [String(port), String(appPort), String(controlPort)]);
  const received = (): Promise<number> => new Promise((resolve, reject) => {
    let text = '';
    const socket = connect({ port: controlPort, host: '127.0.0.1' });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(Number(text)));
    socket.on('error', reject);
  });
  return { port, received };
}

/** drain-proxy's /metrics; nothing for nginx. */
const metricsOf = async (proxy: DrainProxy | undefined): Promise<string> => (proxy === undefined ? '' : proxy.metrics().catch(() => ''));

/** Counters of refusals and limits that moved, `name{labels} value` each. */
function limitCounts(text: string): string[] {
  return text.split('\n').filter((line) =>
    /^drain_proxy_(limits_enforced|connections_refused|rejected_requests)_total\{/.test(line) && !line.endsWith(' 0'));
}

interface Probe {
  answered: number;
  failed: number;
  worstMs: number;
}

/** A well-behaved client: a GET on a new connection every 200 ms until `until`; over HTTP/2 too for `h2Port`. */
async function probe(url: string, until: number, h2Url?: string): Promise<Probe> {
  const result: Probe = { answered: 0, failed: 0, worstMs: 0 };
  while (performance.now() < until) {
    const started = performance.now();
    let ok: boolean;
    try {
      ok = (await httpGet(url, 2000)).body === APP_BODY;
      if (ok && h2Url !== undefined) ok = (await h2Get(h2Url, 2000)).body === APP_BODY;
    } catch {
      ok = false;
    }
    const ms = performance.now() - started;
    if (ok) result.answered++;
    else result.failed++;
    result.worstMs = Math.max(result.worstMs, ms);
    await sleep(Math.max(0, 200 - ms));
  }
  return result;
}

interface Run {
  readonly shape: AbuseShape;
  readonly target: string;
  readonly idleRssMB: number;
  readonly idleAnonMB: number;
  readonly peakRssMB: number;
  readonly peakAnonMB: number;
  readonly appReceivedMB: number;
  readonly probe: Probe;
  readonly attacker: AbuseStats | undefined;
  readonly idleHeapMB: number | undefined;
  readonly settledHeapMB: number | undefined;
  readonly settledRssMB: number;
  readonly counted: string[];
}

interface Target {
  readonly name: string;
  readonly child: Child;
  readonly port: number;
  /** Where the well-behaved HTTP/1.1 client asks (nginx's HTTP/2 proxy answers HTTP/1.1 on another port). */
  readonly probeUrl: string;
  /** drain-proxy, whose /metrics tell its heap and what its limits counted. */
  readonly drainProxy?: DrainProxy;
}

async function startTarget(name: string, shape: AbuseShape, appPort: number, index: number): Promise<Target> {
  if (name === 'nginx') {
    const [port, checkPort] = await freePorts(2);
    const h2 = shape.startsWith('h2');
    const prefix = join(tempDir, `nginx-${index}`);
    const nginx = h2 ? await startNginxH2Proxy(prefix, port, checkPort, 'http1', appPort, 16) : await startNginxProxy(prefix, port, appPort);
    return { name, child: nginx, port, probeUrl: `http://127.0.0.1:${h2 ? checkPort : port}/` };
  }
  const proxy = await startDrainProxy(appPort, {
    nodeFlags: [...pod.nodeFlags, ...settings.proxyNodeFlags], wrap: pod.wrap, env: { ...BENCH_PROXY_ENV, MEMORY_LIMIT: settings.memoryLimit },
  });
  return { name, child: proxy, port: proxy.listenPort, probeUrl: proxy.url('/'), drainProxy: proxy };
}

async function runShape(shape: AbuseShape, targetName: string, app: { port: number; received: () => Promise<number> }, index: number): Promise<Run> {
  const target = await startTarget(targetName, shape, app.port, index);
  const pid = target.child.pid;
  await sleep(3000);
  const idleMetrics = await metricsOf(target.drainProxy);
  const { rssBytes: idleRss, anonBytes: idleAnon } = treeMemory(pid);
  const appReadBefore = await app.received();
  let peakRss = idleRss;
  let peakAnon = idleAnon;
  const sampler = setInterval(() => {
    const memory = memoryOf(pid);
    peakRss = Math.max(peakRss, memory?.rssBytes ?? 0);
    peakAnon = Math.max(peakAnon, memory?.anonBytes ?? 0);
  }, 100);
  const until = performance.now() + settings.seconds * 1000;
  const config = { shape, port: target.port, seconds: settings.seconds, connections: CONNECTIONS[shape] };
  const [attack, probeResult] = await Promise.all([
    run(process.execPath, [join(repoRoot, 'bench', 'abuse-load.ts'), JSON.stringify(config)], { allowFailure: true, timeoutMs: (settings.seconds + 30) * 1000 }),
    probe(target.probeUrl, until, shape.startsWith('h2') ? `http://127.0.0.1:${target.port}` : undefined),
  ]);
  // Clients gone: a last look at the peak while the proxy lets go of them.
  await sleep(500);
  clearInterval(sampler);
  const appReceived = (await app.received()) - appReadBefore;
  const resultLine = attack.stdout.split('\n').find((line) => line.startsWith('result '));
  const attacker = resultLine === undefined ? undefined : JSON.parse(resultLine.slice('result '.length)) as AbuseStats;
  if (attacker === undefined) console.warn(`  ${shape}: the attacker printed no result (exit ${attack.code}): ${attack.stderr.slice(0, 500)}`);
  const settle = target.drainProxy === undefined ? 5 : settings.settleSeconds;
  await sleep(settle * 1000);
  if (!target.child.running) throw new Error(`${targetName} exited during ${shape}: ${target.child.describe()}`);
  const settledMetrics = await metricsOf(target.drainProxy);
  const settledRss = treeMemory(pid).rssBytes;
  await target.child.stop(3000);
  const heap = (text: string): number | undefined => {
    const bytes = metricValue(text, 'nodejs_heap_size_used_bytes');
    return bytes === undefined ? undefined : bytes / MB;
  };
  return {
    shape,
    target: targetName,
    idleRssMB: idleRss / MB,
    idleAnonMB: idleAnon / MB,
    peakRssMB: peakRss / MB,
    peakAnonMB: peakAnon / MB,
    appReceivedMB: appReceived / MB,
    probe: probeResult,
    attacker,
    idleHeapMB: heap(idleMetrics),
    settledHeapMB: heap(settledMetrics),
    settledRssMB: settledRss / MB,
    counted: limitCounts(settledMetrics),
  };
}

function holds(run: Run): string {
  if (run.target !== 'drain-proxy') return '';
  const rss = run.peakRssMB - run.idleRssMB <= RSS_RISE_TARGET_MB;
  const heap = run.idleHeapMB === undefined || run.settledHeapMB === undefined || run.settledHeapMB <= HEAP_SETTLE_FACTOR * run.idleHeapMB;
  const served = run.probe.failed === 0;
  return rss && heap && served ? 'yes' : `no (${[!rss && 'RSS', !heap && 'heap', !served && 'probe'].filter(Boolean).join(', ')})`;
}

function row(run: Run): string[] {
  const f = (n: number): string => n.toFixed(1);
  const a = run.attacker;
  return [
    `${run.shape}`,
    run.target,
    `${f(run.idleRssMB)} / ${f(run.idleAnonMB)}`,
    `+${f(run.peakRssMB - run.idleRssMB)} / +${f(run.peakAnonMB - run.idleAnonMB)}`,
    a === undefined ? '?' : `${f(a.bytesSent / MB)} MB, ${a.connections} conn.`,
    f(run.appReceivedMB),
    `${run.probe.answered}/${run.probe.answered + run.probe.failed} (worst ${run.probe.worstMs.toFixed(0)} ms)`,
    run.idleHeapMB === undefined ? '-' : `${f(run.idleHeapMB)} → ${f(run.settledHeapMB ?? Number.NaN)}`,
    holds(run),
  ];
}

const HEADER = ['shape', 'target', 'idle RSS / anon MB', 'peak rise RSS / anon MB', 'attacker sent', 'app received MB', 'probe answered', `heap MB idle → +${settings.settleSeconds} s`, 'target met'];

async function main(): Promise<number> {
  ensureBenchTools();
  if (!drainProxyBuilt()) throw new Error(`${MAIN} does not exist: npm run build first (npm run abuse does)`);
  const versions = await toolVersions();
  const [appPort] = await freePorts(1);
  const app = await startNginxApp(join(tempDir, 'app'), appPort, APP_BODY);
  const relay = await startCountingRelay(appPort);
  const runs: Run[] = [];
  let index = 0;
  for (const shape of settings.shapes) {
    for (const target of settings.targets) {
      console.log(`${shape} against ${target} (${CONNECTIONS[shape]} connections, ${settings.seconds} s) ...`);
      const run = await runShape(shape, target, relay, index++);
      runs.push(run);
      console.log(`  ${row(run).join(' | ')}`);
      for (const line of run.counted) console.log(`    ${line}`);
      if (run.attacker !== undefined) {
        const { rstReceived, goawayReceived, closedByServer, streams } = run.attacker;
        console.log(`    attacker: ${streams} streams, closed by server ${closedByServer}, RST ${JSON.stringify(rstReceived)}, GOAWAY ${JSON.stringify(goawayReceived)}`);
      }
    }
  }
  pod.remove();
  const table = markdownTable(HEADER, runs.map(row));
  console.log(`\n${table}`);
  const counted = runs.filter((run) => run.counted.length > 0).map((run) => `- ${run.shape}: ${run.counted.map((line) => `\`${line}\``).join(', ')}`);
  const section = [
    `Run ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}: \`${benchCommand('npm run abuse', ['ABUSE_'])}\`; ${availableParallelism()} CPUs (${cpuModel()}), Linux ${release()}, `
      + `Node ${versions.node}, nginx ${versions.nginx}. drain-proxy under ${pod.description}, with \`MEMORY_LIMIT=${settings.memoryLimit}\` as the chart sets it `
      + `and every other setting at its default${settings.proxyNodeFlags.length === 0 ? '' : `, Node flags \`${settings.proxyNodeFlags.join(' ')}\``}; `
      + `each shape runs ${settings.seconds} s against a fresh target; RSS sampled every 100 ms (process tree: nginx's master and worker).`,
    '',
    table,
    '',
    'What drain-proxy counted (`/metrics` after the run):',
    '',
    ...(counted.length > 0 ? counted : ['- nothing']),
    '',
  ].join('\n');
  if (settings.writeDoc && settings.targets.includes('drain-proxy') && settings.shapes.length === ABUSE_SHAPES.length) {
    writeResultsSection(docPath, section, SECTION);
    console.log(`\nrecorded in ${docPath}`);
  }
  return 0;
}

runMain('abuse bench', main);
