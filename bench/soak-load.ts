// The load generator of the soak (npm run soak), run as its own process:
// `node bench/soak-load.ts CONFIG-JSON`. Drives one drain-proxy with a mix of
//   - HTTP/1.1 on keep-alive connections (small GETs, 64 KiB GETs, POST echoes),
//   - HTTP/1.1 on a new connection per request (Connection: close),
//   - slow HTTP/1.1 requests (the app answers after 100-1500 ms),
//   - WebSocket clients that connect, exchange a few messages, and close cleanly,
//   - HTTP/2 (h2c, prior knowledge) sessions that run a batch of concurrent streams and close,
// checking every answer. Each worker loops until `durationMs` has passed or it has done `maxOpsPerWorker`
// operations, whichever comes first; every operation has a timeout. Prints `progress {json}` every
// `progressMs` and `result {json}` at the end, then exits. Nothing here runs unbounded.
import { Agent, request } from 'node:http';
import { connect as connectH2, type ClientHttp2Session } from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export interface SoakLoadConfig {
  readonly port: number;
  readonly durationMs: number;
  /** Workers of each kind. */
  readonly keepAliveWorkers: number;
  readonly newConnectionWorkers: number;
  readonly slowWorkers: number;
  readonly webSocketWorkers: number;
  readonly h2Workers: number;
  readonly maxOpsPerWorker: number;
  readonly opTimeoutMs: number;
  /** Pause between two operations of one worker, so that the mix does not saturate the CPUs. */
  readonly pauseMs: number;
  /**
   * Pause after each operation that opens a connection (new-connection requests, WebSocket and HTTP/2 sessions).
   * Each such connection leaves sockets in TIME_WAIT for 60 s, from the client to the proxy and from the proxy
   * to the app; without a bound the run exhausts the ephemeral ports towards the app's one address and port.
   */
  readonly newConnectionPauseMs: number;
  readonly progressMs: number;
}

export interface SoakLoadCounts {
  http1KeepAlive: number;
  http1NewConnection: number;
  http1Slow: number;
  webSockets: number;
  webSocketMessages: number;
  h2Sessions: number;
  h2Streams: number;
  errors: number;
}

export interface SoakLoadResult {
  readonly counts: SoakLoadCounts;
  /** The first few error messages, with how often each occurred. */
  readonly errorSamples: Record<string, number>;
}

const counts: SoakLoadCounts = {
  http1KeepAlive: 0, http1NewConnection: 0, http1Slow: 0, webSockets: 0, webSocketMessages: 0, h2Sessions: 0, h2Streams: 0, errors: 0,
};
const errorSamples: Record<string, number> = {};
const MAX_DISTINCT_ERRORS = 20;

function recordError(kind: string, error: unknown): void {
  counts.errors += 1;
  const key = `${kind}: ${(error as Error)?.message ?? String(error)}`.slice(0, 200);
  if (key in errorSamples || Object.keys(errorSamples).length < MAX_DISTINCT_ERRORS) errorSamples[key] = (errorSamples[key] ?? 0) + 1;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Answer { readonly status: number; readonly body: Buffer }

function http1(config: SoakLoadConfig, agent: Agent | false, method: string, path: string, body?: Buffer): Promise<Answer> {
  let req: ReturnType<typeof request> | undefined;
  const done = new Promise<Answer>((resolve, reject) => {
    req = request({
      host: '127.0.0.1', port: config.port, method, path, agent,
      headers: body === undefined ? {} : { 'content-length': String(body.length), 'content-type': 'application/octet-stream' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.on('error', reject);
    req.end(body);
  });
  return withTimeout(done, config.opTimeoutMs, `${method} ${path}`, () => req?.destroy());
}

function check(answer: Answer, expectedBytes: number, what: string): void {
  if (answer.status !== 200) throw new Error(`${what}: status ${answer.status}`);
  if (answer.body.length !== expectedBytes) throw new Error(`${what}: ${answer.body.length} bytes, expected ${expectedBytes}`);
}

/** The app answers `slow <ms>ms from <pod>`. */
function checkSlow(answer: Answer, ms: number, what: string): void {
  if (answer.status !== 200 || !answer.body.toString('latin1').startsWith(`slow ${ms}ms `)) throw new Error(`${what}: status ${answer.status}, ${answer.body.length} bytes`);
}

const payload = Buffer.alloc(16 * 1024, 'p');
const deadline = (config: SoakLoadConfig): number => started + config.durationMs;
let started = 0;

async function loop(config: SoakLoadConfig, kind: string, operation: (index: number) => Promise<void>, pauseMs = config.pauseMs): Promise<void> {
  for (let index = 0; index < config.maxOpsPerWorker && performance.now() < deadline(config); index += 1) {
    try {
      await operation(index);
    } catch (error) {
      recordError(kind, error);
      // An error must not turn into a tight loop of errors.
      await sleep(100);
    }
    if (pauseMs > 0) await sleep(pauseMs);
  }
}

async function keepAliveWorker(config: SoakLoadConfig): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await loop(config, 'http1 keep-alive', async (index) => {
      switch (index % 3) {
        case 0: check(await http1(config, agent, 'GET', '/healthz'), 3, 'GET /healthz'); break;
        case 1: check(await http1(config, agent, 'GET', '/bytes?n=65536'), 65536, 'GET /bytes'); break;
        default: {
          const answer = await http1(config, agent, 'POST', '/echo', payload);
          check(answer, payload.length, 'POST /echo');
          if (!answer.body.equals(payload)) throw new Error('POST /echo: body differs');
        }
      }
      counts.http1KeepAlive += 1;
    });
  } finally {
    agent.destroy();
  }
}

async function newConnectionWorker(config: SoakLoadConfig): Promise<void> {
  await loop(config, 'http1 new connection', async (index) => {
    const path = index % 2 === 0 ? '/healthz' : '/bytes?n=4096';
    check(await http1(config, false, 'GET', path), index % 2 === 0 ? 3 : 4096, `GET ${path}`);
    counts.http1NewConnection += 1;
  }, config.newConnectionPauseMs);
}

async function slowWorker(config: SoakLoadConfig): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await loop(config, 'http1 slow', async (index) => {
      const ms = 100 + (index * 397) % 1400;
      checkSlow(await http1(config, agent, 'GET', `/slow?ms=${ms}`), ms, 'GET /slow');
      counts.http1Slow += 1;
    });
  } finally {
    agent.destroy();
  }
}

function webSocketSession(config: SoakLoadConfig, messages: number): Promise<void> {
  let socket: WebSocket | undefined;
  const done = new Promise<void>((resolve, reject) => {
    socket = new WebSocket(`ws://127.0.0.1:${config.port}/echo`, { perMessageDeflate: false });
    const ws = socket;
    let sent = 0;
    let closing = false;
    const sendNext = (): void => {
      sent += 1;
      ws.send(sent % 2 === 0 ? `message ${sent}` : Buffer.alloc(1024 + sent, sent));
    };
    ws.on('open', sendNext);
    ws.on('message', (data, isBinary) => {
      const expected = sent % 2 === 0 ? Buffer.from(`message ${sent}`) : Buffer.alloc(1024 + sent, sent);
      const got = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      if (isBinary !== (sent % 2 !== 0) || !got.equals(expected)) {
        reject(new Error(`echo ${sent} differs`));
        ws.terminate();
        return;
      }
      counts.webSocketMessages += 1;
      if (sent < messages) return sendNext();
      closing = true;
      ws.close(1000, 'done');
    });
    ws.on('close', (code) => {
      if (closing && code === 1000) resolve();
      else reject(new Error(`unexpected close ${code}${closing ? ' while closing' : ''}`));
    });
    ws.on('error', (error) => reject(error));
  });
  return withTimeout(done, config.opTimeoutMs, 'WebSocket session', () => socket?.terminate());
}

async function webSocketWorker(config: SoakLoadConfig): Promise<void> {
  await loop(config, 'websocket', async (index) => {
    await webSocketSession(config, 2 + (index % 19));
    counts.webSockets += 1;
  }, config.newConnectionPauseMs);
}

function h2Stream(session: ClientHttp2Session, config: SoakLoadConfig, method: string, path: string, body?: Buffer): Promise<Answer> {
  const stream = session.request({ ':method': method, ':path': path }, { endStream: body === undefined });
  const done = new Promise<Answer>((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => { status = Number(headers[':status']); });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    stream.on('close', () => {
      if (stream.rstCode !== undefined && stream.rstCode !== 0) reject(new Error(`stream reset ${stream.rstCode}`));
    });
    if (body !== undefined) stream.end(body);
  });
  return withTimeout(done, config.opTimeoutMs, `h2 ${method} ${path}`, () => stream.close());
}

async function h2Session(config: SoakLoadConfig, index: number): Promise<void> {
  const session = connectH2(`http://127.0.0.1:${config.port}`);
  const sessionError = new Promise<never>((_resolve, reject) => session.on('error', reject));
  sessionError.catch(() => {});
  try {
    // A batch of concurrent streams, a few times over, then the session closes.
    const batches = 1 + (index % 4);
    for (let batch = 0; batch < batches; batch += 1) {
      const streams = [
        h2Stream(session, config, 'GET', '/healthz').then((a) => check(a, 3, 'h2 GET /healthz')),
        h2Stream(session, config, 'GET', '/bytes?n=32768').then((a) => check(a, 32768, 'h2 GET /bytes')),
        h2Stream(session, config, 'POST', '/echo', payload).then((a) => {
          check(a, payload.length, 'h2 POST /echo');
          if (!a.body.equals(payload)) throw new Error('h2 POST /echo: body differs');
        }),
        h2Stream(session, config, 'GET', `/slow?ms=${50 + (index * 131) % 400}`).then((a) => { if (a.status !== 200) throw new Error(`h2 GET /slow: status ${a.status}`); }),
      ];
      await Promise.race([Promise.all(streams), sessionError]);
      counts.h2Streams += streams.length;
    }
    counts.h2Sessions += 1;
  } finally {
    await withTimeout(new Promise<void>((resolve) => session.close(() => resolve())), 5000, 'h2 session close', () => session.destroy())
      .catch((error: unknown) => recordError('h2 session close', error));
  }
}

async function h2Worker(config: SoakLoadConfig): Promise<void> {
  await loop(config, 'h2', (index) => h2Session(config, index), config.newConnectionPauseMs);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as SoakLoadConfig;
  started = performance.now();
  const progress = setInterval(() => process.stdout.write(`progress ${JSON.stringify(counts)}\n`), config.progressMs);
  const workers: Promise<void>[] = [];
  const add = (n: number, worker: (c: SoakLoadConfig) => Promise<void>): void => {
    for (let i = 0; i < n; i += 1) workers.push(worker(config));
  };
  add(config.keepAliveWorkers, keepAliveWorker);
  add(config.newConnectionWorkers, newConnectionWorker);
  add(config.slowWorkers, slowWorker);
  add(config.webSocketWorkers, webSocketWorker);
  add(config.h2Workers, h2Worker);
  await Promise.all(workers);
  clearInterval(progress);
  const result: SoakLoadResult = { counts, errorSamples };
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
}

// An unexpected throw anywhere is an error of the run, reported, not a silent exit.
process.on('uncaughtException', (error) => recordError('uncaught', error));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`soak-load failed: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
