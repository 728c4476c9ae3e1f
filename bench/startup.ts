// The start-up section of npm run bench (`npm run bench -- startup`): how long drain-proxy takes from spawn to
// GET /readyz answering 200 in front of a healthy app, which is how long a native sidecar delays the app's start;
// beside bare Node from spawn to accepting a TCP connection, and a bare node:http server from spawn to its first 200.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { median } from '../harness/bench.ts';
import { startDrainProxy } from '../harness/drain-proxy.ts';
import { httpGet } from '../harness/http.ts';
import { connectOutcome, freePorts } from '../harness/ports.ts';
import { start, type Child } from '../harness/processes.ts';
import { consoleTable, markdownTable } from '../harness/tables.ts';
import { startNginxApp } from './nginx.ts';
import { APP_BODY, BENCH_PROXY_ENV, markers, measuredOn, positiveIntegerFromEnv, type BenchContext, type BenchSection } from './session.ts';

const RUNS = positiveIntegerFromEnv('BENCH_STARTUP_RUNS', 10);
/** How often readiness is polled: the figures' resolution. */
const POLL_MS = 2;
const GIVE_UP_MS = 20_000;

interface Starter {
  readonly name: string;
  /** Starts the process (spawned before the promise settles); `ready` says whether it answers as it should. */
  readonly launch: () => Promise<{ child: Child; ready: () => Promise<boolean> }>;
}

const answers200 = async (url: string): Promise<boolean> => (await httpGet(url, 1000).catch(() => undefined))?.status === 200;

/** Milliseconds from spawn to ready, the process stopped after. */
async function timeStart(starter: Starter): Promise<number> {
  const started = performance.now();
  const { child, ready } = await starter.launch();
  try {
    while (!await ready()) {
      if (!child.running) throw new Error(`${starter.name} exited before it was ready: ${child.describe()}`);
      if (performance.now() - started > GIVE_UP_MS) throw new Error(`${starter.name} not ready after ${GIVE_UP_MS} ms: ${child.output()}`);
      await sleep(POLL_MS);
    }
    return performance.now() - started;
  } finally {
    await child.stop(3000);
  }
}

const HEADER = ['process', 'ready when', 'median ms', 'fastest ms', 'slowest ms'];

async function run(context: BenchContext): Promise<string | undefined> {
  const [appPort, listenPort, adminPort, barePort, httpPort] = await freePorts(5);
  await startNginxApp(join(context.tempDir, 'startup-app'), appPort, APP_BODY);
  const starters: Array<Starter & { readonly when: string }> = [
    {
      name: 'drain-proxy',
      when: 'GET /readyz answers 200 (the app healthy)',
      launch: async () => ({
        child: await startDrainProxy(appPort, { env: BENCH_PROXY_ENV, listenPort, adminPort, wait: 'none' }),
        ready: () => answers200(`http://127.0.0.1:${adminPort}/readyz`),
      }),
    },
    {
      name: 'bare Node, listening',
      when: 'a TCP connect succeeds',
      launch: async () => ({
        child: start(process.execPath, ['-e', `require('node:net').createServer().listen(${barePort}, '127.0.0.1')`], { name: 'bare Node' }),
        ready: async () => await connectOutcome(barePort) === 'connected',
      }),
    },
    {
      name: 'bare node:http server',
      when: 'GET / answers 200',
      launch: async () => ({
        child: start(process.execPath, ['-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(${httpPort}, '127.0.0.1')`], { name: 'node:http' }),
        ready: () => answers200(`http://127.0.0.1:${httpPort}/`),
      }),
    },
  ];
  console.log(`\nStart-up: ${starters.length} processes x ${RUNS} starts each, in turn, readiness polled every ${POLL_MS} ms\n`);
  const times = new Map<string, number[]>(starters.map((starter) => [starter.name, []]));
  for (let round = 1; round <= RUNS; round++) {
    for (const starter of starters) {
      const ms = await timeStart(starter);
      times.get(starter.name)!.push(ms);
      console.log(`start ${round}  ${starter.name.padEnd(22)} ready after ${ms.toFixed(1).padStart(6)} ms`);
      await sleep(200);
    }
  }
  const rows = starters.map(({ name, when }) => {
    const all = times.get(name)!;
    return [name, when, median(all).toFixed(0), Math.min(...all).toFixed(0), Math.max(...all).toFixed(0)];
  });
  const of = (name: string): number => median(times.get(name)!);
  const line = `Recorded: drain-proxy is ready ${of('drain-proxy').toFixed(0)} ms after its spawn (median of ${RUNS}; `
    + `${Math.min(...times.get('drain-proxy')!).toFixed(0)}-${Math.max(...times.get('drain-proxy')!).toFixed(0)} ms), `
    + `bare Node listens after ${of('bare Node, listening').toFixed(0)} ms and a bare node:http server answers after `
    + `${of('bare node:http server').toFixed(0)} ms: as a native sidecar it delays the app's start by about ${of('drain-proxy').toFixed(0)} ms.`;
  console.log(`\n${consoleTable(HEADER, rows)}\n\n${line}`);
  return `${measuredOn(context)}
- Versions: Node ${context.versions.node}, nginx ${context.versions.nginx} (the app)
- Each process started ${RUNS} times, in turn, from \`spawn()\` until it is ready (polled every ${POLL_MS} ms on a new connection), then stopped;
  drain-proxy with the bench's settings (\`LOG_LEVEL=warn\`, \`HEALTH_INTERVAL=1s\`; the first health check runs at start) in front of nginx serving the app

${markdownTable(HEADER, rows)}

**${line}**
`;
}

export const startupSection: BenchSection = {
  name: 'startup', switch: 'BENCH_STARTUP', markers: markers('bench-startup-results', 'Latest start-up run'), needsDrainProxy: true, run,
};
