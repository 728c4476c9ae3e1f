// The WebSocket load generator of the bench, run as its own process: `node bench/ws-load.ts CONFIG-JSON`.
// Raw sockets and prebuilt frames rather than a WebSocket library, so that the client side costs
// as little CPU as possible on a machine it shares with the app and the proxy.
//
// mode 'echo': opens `connections` WebSockets, each doing ping-pong round trips of one small masked
//   text message (one in flight per connection); prints `ready`, then after `warmupMs` prints `start`,
//   and after `durationMs` prints `result {json}` with the round trips completed in between and their p99, then
//   waits (up to `holdMs`) to be stopped.
// mode 'idle': opens `connections` WebSockets and leaves them idle; prints `open {json}` once all
//   are open, `lost N` whenever some close early, and exits after `holdMs` or on SIGTERM.
// Both modes exit on their own: nothing here runs unbounded.
import { connect, type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ToolResult } from '../harness/bench.ts';

export interface WsLoadConfig {
  readonly mode: 'echo' | 'idle';
  readonly port: number;
  readonly path: string;
  readonly connections: number;
  /** Loopback addresses the client sockets bind to, in turn, so ephemeral ports do not run out. */
  readonly sourceAddresses: readonly string[];
  /** Handshakes in flight at once while opening. */
  readonly openConcurrency: number;
  readonly handshakeTimeoutMs: number;
  readonly messageBytes: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly holdMs: number;
}

export interface WsOpenResult {
  readonly opened: number;
  readonly failed: number;
  readonly seconds: number;
  readonly firstError: string | undefined;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

interface OpenSocket {
  readonly socket: Socket;
  /** Bytes that came after the 101's head. */
  readonly leftover: Buffer;
}

function openWebSocket(config: WsLoadConfig, index: number): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const expectedAccept = createHash('sha1').update(key + WS_GUID).digest('base64');
    const localAddress = config.sourceAddresses[index % config.sourceAddresses.length];
    const socket = connect({ host: '127.0.0.1', port: config.port, localAddress, noDelay: true });
    let head = Buffer.alloc(0);
    const fail = (message: string): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(message));
    };
    const timer = setTimeout(() => fail(`handshake ${index} timed out`), config.handshakeTimeoutMs);
    socket.on('error', (error) => fail(`connection ${index} from ${localAddress}: ${error.message}`));
    socket.on('close', () => fail(`connection ${index} closed during the handshake`));
    socket.on('connect', () => {
      socket.write(`GET ${config.path} HTTP/1.1\r\nHost: 127.0.0.1:${config.port}\r\nUpgrade: websocket\r\n`
        + `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > 16384) fail(`connection ${index}: response head too long`);
        return;
      }
      const text = head.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 101 /.test(text)) return fail(`connection ${index}: ${text.split('\r\n')[0]}`);
      const accept = /^sec-websocket-accept:\s*(\S+)/im.exec(text)?.[1];
      if (accept !== expectedAccept) return fail(`connection ${index}: wrong Sec-WebSocket-Accept`);
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      socket.removeAllListeners('connect');
      resolve({ socket, leftover: head.subarray(end + 4) });
    });
  });
}

/** Opens `config.connections` WebSockets, at most `openConcurrency` handshakes at a time. */
async function openAll(config: WsLoadConfig, stopOnError: boolean): Promise<{ sockets: OpenSocket[]; result: WsOpenResult }> {
  const sockets: OpenSocket[] = [];
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < config.connections && !(stopOnError && failed > 0)) {
      const index = next++;
      try {
        sockets.push(await openWebSocket(config, index));
      } catch (error) {
        failed += 1;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.openConcurrency, config.connections) }, worker));
  return { sockets, result: { opened: sockets.length, failed, seconds: (performance.now() - started) / 1000, firstError } };
}

/** A client frame: FIN + text, masked as RFC 6455 requires of clients. */
function maskedTextFrame(payload: Buffer): Buffer {
  if (payload.length > 125) throw new Error('messages over 125 bytes are not supported');
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/** Round-trip times in 10 µs buckets up to 1 s, the last bucket catching the rest. */
class Histogram {
  readonly #counts = new Uint32Array(100_001);
  #total = 0;

  record(ms: number): void {
    this.#counts[Math.min(this.#counts.length - 1, Math.floor(ms * 100))] += 1;
    this.#total += 1;
  }

  percentileMs(percent: number): number {
    if (this.#total === 0) return Number.NaN;
    const rank = Math.ceil(this.#total * percent / 100);
    let seen = 0;
    for (let bucket = 0; bucket < this.#counts.length; bucket++) {
      seen += this.#counts[bucket];
      if (seen >= rank) return (bucket + 1) / 100;
    }
    return Number.NaN;
  }
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function runEcho(config: WsLoadConfig): Promise<void> {
  const { sockets, result: opening } = await openAll(config, true);
  if (opening.failed > 0) throw new Error(`could not open the WebSockets: ${opening.firstError}`);
  const payload = Buffer.from('x'.repeat(config.messageBytes));
  // What the app sends back: the same text, unmasked.
  const expected = Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
  const histogram = new Histogram();
  let running = true;
  let measuring = false;
  let roundTrips = 0;
  let errors = 0;

  for (const { socket, leftover } of sockets) {
    const frame = maskedTextFrame(payload);
    let pending = leftover;
    let sentAt = 0;
    const send = (): void => {
      sentAt = performance.now();
      socket.write(frame);
    };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= expected.length) {
        if (!pending.subarray(0, expected.length).equals(expected)) {
          errors += 1;
          socket.destroy();
          return;
        }
        pending = pending.subarray(expected.length);
        if (measuring) {
          roundTrips += 1;
          histogram.record(performance.now() - sentAt);
        }
        if (running) send();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => { if (running) errors += 1; });
    send();
  }
  say('ready');
  await sleep(config.warmupMs);
  measuring = true;
  const started = performance.now();
  say('start');
  await sleep(config.durationMs);
  measuring = false;
  running = false;
  // Errors: echoes that did not match what was sent, plus connections lost mid-run.
  const result: ToolResult = {
    operations: roundTrips,
    perSecond: roundTrips / ((performance.now() - started) / 1000),
    latencyMs: histogram.percentileMs(99),
    errors,
  };
  say(`result ${JSON.stringify(result)}`);
  // Stays alive (bounded) so the bench can read this process's CPU; it stops it with SIGTERM.
  await sleep(config.holdMs);
  for (const { socket } of sockets) socket.destroy();
}

async function runIdle(config: WsLoadConfig): Promise<void> {
  const { sockets, result } = await openAll(config, false);
  let lost = 0;
  let reported = 0;
  for (const { socket } of sockets) {
    socket.on('error', () => {});
    socket.on('close', () => { lost += 1; });
  }
  say(`open ${JSON.stringify(result)}`);
  const deadline = performance.now() + config.holdMs;
  while (performance.now() < deadline) {
    await sleep(100);
    if (lost !== reported) {
      reported = lost;
      say(`lost ${lost}`);
    }
  }
  for (const { socket } of sockets) socket.destroy();
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as WsLoadConfig;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
  if (config.mode === 'echo') await runEcho(config);
  else await runIdle(config);
  process.exit(0);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
