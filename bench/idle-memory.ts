/**
 * The proxy's memory with its connection limit full of idle clients: the
 * figure the chart's default memory limit is derived from.
 *
 * Two runs, each against a fresh drain-proxy with its default configuration
 * (MAX_CONNECTIONS 10,000): keep-alive HTTP/1.1 connections that had one
 * request answered and then sit idle (each paired with its own idle upstream
 * connection, as the proxy keeps it), and idle WebSockets. Connections are
 * opened in steps; 2 s after each step the proxy's VmRSS, RssAnon (private
 * memory) and VmHWM (peak) are read from /proc. The per-connection cost is the
 * least-squares slope over the steps. Each proxied connection holds two file
 * descriptors in the proxy, so where the open-file limit cannot reach 20,000
 * the last step is what fits, and the figure at 10,000 is extrapolated along
 * the slope (the output says so).
 *
 *   npm run build && node bench/idle-memory.ts [--connections N]
 *
 * The app is bench/ws-echo-app.ts: it never closes an idle keep-alive
 * connection and echoes WebSockets.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { runMain } from '../harness/cli.ts';
import { drainProxyBuilt, startDrainProxy } from '../harness/drain-proxy.ts';
import { waitFor200 } from '../harness/http.ts';
import { freePorts } from '../harness/ports.ts';
import { connectionsFitting, hardNofileLimit, parseStatus } from '../harness/proc.ts';
import { start } from '../harness/processes.ts';
import { BENCH_PROXY_ENV } from './session.ts';

const DEFAULT_MAX_CONNECTIONS = 10_000;
const SETTLE_MS = 2000;
const OPEN_CONCURRENCY = 200;
const OPEN_TIMEOUT_MS = 120_000;

interface MemorySample {
  readonly connections: number;
  readonly rssKiB: number;
  readonly rssAnonKiB: number;
  readonly hwmKiB: number;
}

function memoryOf(pid: number, connections: number): MemorySample {
  const memory = parseStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { connections, rssKiB: memory.rssBytes / 1024, rssAnonKiB: memory.anonBytes / 1024, hwmKiB: memory.peakBytes / 1024 };
}

/** Opens one connection and leaves it idle once `handshake` has been answered with `answered`. */
function openIdle(port: number, handshake: string, answered: RegExp): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let head = '';
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('closed before the answer')));
    socket.on('connect', () => socket.write(handshake));
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!answered.test(head)) {
        if (head.length > 16384) fail(new Error(`unexpected answer: ${head.split('\r\n')[0]}`));
        return;
      }
      socket.removeAllListeners();
      // An idle client that the proxy closes must not crash the run; the count at the end shows it.
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

const KINDS = {
  'HTTP/1.1 keep-alive': {
    handshake: (port: number): string => `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
    answered: /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nok\n$/,
  },
  WebSocket: {
    handshake: (port: number): string => `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    answered: /^HTTP\/1\.1 101 [\s\S]*\r\n\r\n$/,
  },
} as const;

async function openMany(sockets: Socket[], target: number, port: number, kind: keyof typeof KINDS): Promise<void> {
  const { handshake, answered } = KINDS[kind];
  const deadline = performance.now() + OPEN_TIMEOUT_MS;
  const worker = async (): Promise<void> => {
    while (sockets.length < target) {
      if (performance.now() > deadline) throw new Error(`${kind}: ${sockets.length} of ${target} open after ${OPEN_TIMEOUT_MS} ms`);
      const placeholder = sockets.length;
      sockets.length += 1;
      try {
        sockets[placeholder] = await openIdle(port, handshake(port), answered);
      } catch (error) {
        throw new Error(`${kind}: connection ${placeholder + 1}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: OPEN_CONCURRENCY }, worker));
}

/** Least-squares slope and intercept of y over x. */
function fit(points: readonly (readonly [number, number])[]): { slope: number; intercept: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

async function measure(kind: keyof typeof KINDS, connections: number, appPort: number): Promise<void> {
  // The proxy's own configuration defaults, bound to loopback and quiet as in every bench section.
  const proxy = await startDrainProxy(appPort, { env: { ...BENCH_PROXY_ENV, DRAIN_DELAY: '5s', DRAIN_TIMEOUT: '25s' } });
  const port = proxy.listenPort;
  const sockets: Socket[] = [];
  try {
    // Warm up the code paths once, so the first step does not carry the JIT's memory.
    await openMany(sockets, 50, port, kind);
    for (const socket of sockets.splice(0)) socket.destroy();
    await sleep(SETTLE_MS);
    const samples = [memoryOf(proxy.pid, 0)];
    const steps = [0.25, 0.5, 0.75, 1].map((share) => Math.round(connections * share));
    for (const step of steps) {
      await openMany(sockets, step, port, kind);
      await sleep(SETTLE_MS);
      const open = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
      if (open !== step) throw new Error(`${kind}: ${step - open} of ${step} connections closed while idle`);
      samples.push(memoryOf(proxy.pid, step));
    }
    const rss = fit(samples.map((s) => [s.connections, s.rssKiB]));
    const anon = fit(samples.map((s) => [s.connections, s.rssAnonKiB]));
    console.log(`\n${kind}: idle connections through drain-proxy (pid ${proxy.pid})`);
    console.log('connections  VmRSS MiB  RssAnon MiB  VmHWM MiB');
    for (const s of samples) console.log(`${String(s.connections).padStart(11)}  ${mib(s.rssKiB).padStart(9)}  ${mib(s.rssAnonKiB).padStart(11)}  ${mib(s.hwmKiB).padStart(9)}`);
    console.log(`per connection: VmRSS ${rss.slope.toFixed(1)} KiB, RssAnon ${anon.slope.toFixed(1)} KiB (least squares over the steps)`);
    const last = samples[samples.length - 1];
    if (connections < DEFAULT_MAX_CONNECTIONS) {
      const at = (f: { slope: number; intercept: number }): number => f.intercept + f.slope * DEFAULT_MAX_CONNECTIONS;
      console.log(`at ${DEFAULT_MAX_CONNECTIONS} (EXTRAPOLATED from ${connections} along the slope): VmRSS ${mib(at(rss))} MiB, RssAnon ${mib(at(anon))} MiB; peak so far VmHWM ${mib(last.hwmKiB)} MiB`);
    } else {
      console.log(`at ${connections}: VmRSS ${mib(last.rssKiB)} MiB, RssAnon ${mib(last.rssAnonKiB)} MiB, peak VmHWM ${mib(last.hwmKiB)} MiB`);
    }
  } finally {
    for (const socket of sockets) socket?.destroy();
    await proxy.stop(3000);
  }
}

const args = process.argv.slice(2);

async function main(): Promise<number> {
  if (!drainProxyBuilt()) throw new Error('dist/main.js is missing: run npm run build first');
  const requested = args[0] === '--connections' ? Number(args[1]) : DEFAULT_MAX_CONNECTIONS;
  const fitting = connectionsFitting(hardNofileLimit());
  const connections = Math.min(requested, fitting);
  if (connections < requested) {
    console.log(`open-file limit ${hardNofileLimit()} (hard; raising it needs CAP_SYS_RESOURCE): ${connections} connections fit, 2 descriptors each in the proxy, not ${requested}`);
  }
  const [appPort] = await freePorts(1);
  const app = start(process.execPath, [new URL('./ws-echo-app.ts', import.meta.url).pathname, String(appPort)], { name: 'app' });
  await waitFor200(`http://127.0.0.1:${appPort}/`, app);
  for (const kind of Object.keys(KINDS) as (keyof typeof KINDS)[]) await measure(kind, connections, appPort);
  return 0;
}

runMain('idle-memory', main);
