/**
 * Abusive clients, over real sockets, writing exact bytes: the shapes the
 * proxy must survive with bounded memory. Shared by the abuse tests
 * (test/integration/abuse.test.ts) and the abuse benchmark (bench/abuse.ts).
 *
 * Each shape runs until its deadline (or `maxConnections` connections have
 * been used), reconnecting when the server closes a connection, as an
 * attacker would; every loop is bounded by that deadline. A shape reads what
 * the server sends only as far as it must: HTTP/2 shapes skim frame headers
 * to acknowledge SETTINGS (so limits take effect) and to count the server's
 * RST_STREAM and GOAWAY codes; nothing is kept.
 */
import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { PREFACE } from '../../src/listeners/sniff.ts';
import { ACK, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING, RST_STREAM, SETTINGS, frame, getHeaderBlock } from '../h2/raw-client.ts';

export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const NGHTTP2_CANCEL = 0x8;

export const ABUSE_SHAPES = [
  'h1-pipeline', // HTTP/1.1 requests written back to back, no response ever read
  'h2-rapid-reset', // HEADERS then RST_STREAM, over and over (CVE-2023-44487)
  'h2-unread', // streams opened with a zero flow-control window: no response body can ever be delivered
  'h2-large-headers', // streams left unfinished (no END_STREAM) with header blocks near MAX_HEADER_SIZE
  'h2-settings-flood', // SETTINGS frames, the ACKs never read (CVE-2019-9515)
  'h2-ping-flood', // PING frames, the ACKs never read (CVE-2019-9512)
  'h2-empty-data', // empty DATA frames on an open stream (CVE-2019-9518)
  'h2-continuation', // a header block that never ends: CONTINUATION frames without END_HEADERS (CVE-2024-27316)
] as const;
export type AbuseShape = (typeof ABUSE_SHAPES)[number];

export interface AbuseOptions {
  readonly port: number;
  readonly host?: string;
  /** Connections kept open at once (each reconnects when closed). */
  readonly connections: number;
  /** performance.now() at which to stop. */
  readonly until: number;
  /** At most this many connections over the run (bounds a loop against a server that closes at once). */
  readonly maxConnections?: number;
  /** h2-large-headers: bytes of header block per stream. */
  readonly headerBytes?: number;
}

export interface AbuseStats {
  connections: number;
  /** Connections the server closed (or reset) before the deadline. */
  closedByServer: number;
  bytesSent: number;
  bytesReceived: number;
  /** HTTP/2 streams opened (HEADERS sent). */
  streams: number;
  /** RST_STREAM and GOAWAY frames received, by error code name. */
  rstReceived: Record<string, number>;
  goawayReceived: Record<string, number>;
}

export function emptyStats(): AbuseStats {
  return { connections: 0, closedByServer: 0, bytesSent: 0, bytesReceived: 0, streams: 0, rstReceived: {}, goawayReceived: {} };
}

const H2_ERRORS = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];

export function h2ErrorName(code: number): string {
  return H2_ERRORS[code] ?? `0x${code.toString(16)}`;
}

/** One HPACK integer with an N-bit prefix (RFC 7541 §5.1), `flags` in the prefix byte's high bits. */
function hpackInteger(value: number, prefixBits: number, flags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A literal header field without indexing, new name (RFC 7541 §6.2.2): leaves the dynamic table alone. */
export function hpackLiteral(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackInteger(name.length, 7, 0), Buffer.from(name, 'latin1'), hpackInteger(value.length, 7, 0), Buffer.from(value, 'latin1')]);
}

/** A GET's header block plus filler headers (`x-fill-N`, 1 KiB values) up to about `bytes`. */
export function largeHeaderBlock(path: string, bytes: number): Buffer {
  const parts = [getHeaderBlock(path)];
  let size = parts[0].length;
  for (let i = 0; size < bytes; i++) {
    const field = hpackLiteral(`x-fill-${i}`, 'f'.repeat(Math.min(1024, Math.max(1, bytes - size - 16))));
    parts.push(field);
    size += field.length;
  }
  return Buffer.concat(parts);
}

export function settingsFrame(params: ReadonlyArray<readonly [number, number]>): Buffer {
  const payload = Buffer.alloc(params.length * 6);
  params.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(SETTINGS, 0, 0, payload);
}

export function rstStreamFrame(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(RST_STREAM, 0, stream, payload);
}

/**
 * Reads HTTP/2 frame headers as they stream by, skipping payloads (never
 * buffered), answering the server's SETTINGS (and PING, unless told not to)
 * and counting RST_STREAM and GOAWAY codes.
 */
class FrameSkimmer {
  readonly #socket: Socket;
  readonly #stats: AbuseStats;
  readonly #answerPings: boolean;
  readonly #head = Buffer.alloc(9);
  #headBytes = 0;
  #skip = 0;
  /** RST_STREAM and GOAWAY payloads are short: their first 8 bytes are gathered here. */
  #payload = Buffer.alloc(8);
  #payloadBytes = 0;
  #type = -1;
  #flags = 0;

  constructor(socket: Socket, stats: AbuseStats, answerPings: boolean) {
    this.#socket = socket;
    this.#stats = stats;
    this.#answerPings = answerPings;
  }

  readonly push = (chunk: Buffer): void => {
    this.#stats.bytesReceived += chunk.length;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, chunk.length - pos);
        if ((this.#type === RST_STREAM || this.#type === GOAWAY || this.#type === PING) && this.#payloadBytes < 8) {
          const keep = Math.min(take, 8 - this.#payloadBytes);
          chunk.copy(this.#payload, this.#payloadBytes, pos, pos + keep);
          this.#payloadBytes += keep;
        }
        pos += take;
        this.#skip -= take;
        if (this.#skip === 0) this.#frameDone();
        continue;
      }
      const take = Math.min(9 - this.#headBytes, chunk.length - pos);
      chunk.copy(this.#head, this.#headBytes, pos, pos + take);
      this.#headBytes += take;
      pos += take;
      if (this.#headBytes < 9) return;
      this.#headBytes = 0;
      this.#skip = this.#head.readUIntBE(0, 3);
      this.#type = this.#head[3];
      this.#flags = this.#head[4];
      this.#payloadBytes = 0;
      if (this.#skip === 0) this.#frameDone();
    }
  };

  #frameDone(): void {
    const socket = this.#socket;
    switch (this.#type) {
      case SETTINGS:
        if ((this.#flags & ACK) === 0 && socket.writable) socket.write(frame(SETTINGS, ACK, 0));
        break;
      case PING:
        if ((this.#flags & ACK) === 0 && this.#answerPings && socket.writable) socket.write(frame(PING, ACK, 0, Buffer.from(this.#payload)));
        break;
      case RST_STREAM:
        count(this.#stats.rstReceived, h2ErrorName(this.#payload.readUInt32BE(0)));
        break;
      case GOAWAY:
        count(this.#stats.goawayReceived, h2ErrorName(this.#payload.readUInt32BE(4)));
        break;
    }
  }
}

function count(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** A connection of one shape: resolves when it has closed (by the server, or at the deadline). */
type ConnectionRun = (socket: Socket, stats: AbuseStats, options: AbuseOptions) => Promise<void>;

function openSocket(port: number, host = '127.0.0.1'): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect({ port, host, noDelay: true });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', () => resolve(null));
  });
}

/** Writes `bytes`; waits for the socket to drain when it pushes back. False once the socket is gone or the deadline passed. */
async function send(socket: Socket, bytes: Buffer, stats: AbuseStats, until: number): Promise<boolean> {
  if (socket.destroyed || !socket.writable) return false;
  stats.bytesSent += bytes.length;
  if (socket.write(bytes)) return performance.now() < until;
  while (socket.writableNeedDrain && !socket.destroyed) {
    const left = until - performance.now();
    if (left <= 0) return false;
    await nextEvent(socket, ['drain', 'close'], Math.min(left, 200));
  }
  return !socket.destroyed && performance.now() < until;
}

/** Resolves at the first of `events` on the socket or after `ms`, its listeners removed either way (never rejects, as `events.once` would on 'error'). */
function nextEvent(socket: Socket, events: readonly string[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const event of events) socket.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const event of events) socket.once(event, done);
  });
}

/** Waits until the deadline or the socket's close, whichever comes first. */
async function holdUntil(socket: Socket, until: number): Promise<void> {
  while (!socket.destroyed && performance.now() < until) {
    await nextEvent(socket, ['close'], Math.min(200, Math.max(1, until - performance.now())));
  }
}

function h2Start(socket: Socket, stats: AbuseStats, settings: Buffer, answerPings = true): void {
  socket.on('data', new FrameSkimmer(socket, stats, answerPings).push);
  const hello = Buffer.concat([PREFACE, settings]);
  stats.bytesSent += hello.length;
  socket.write(hello);
}

/** Writes `batch` over and over until the socket is gone or the deadline passed, then holds the connection. */
async function flood(socket: Socket, batch: Buffer, stats: AbuseStats, until: number, yieldBetween = false): Promise<void> {
  while (await send(socket, batch, stats, until)) {
    // Let the server's answers in, as a real client's event loop would.
    if (yieldBetween) await nextTurn();
  }
  await holdUntil(socket, until);
}

/** Opens streams `perBatch` at a time, `frames` for each new stream id, `pause` between batches, until the socket is gone or the deadline passed; then holds the connection. */
async function openStreams(
  socket: Socket, stats: AbuseStats, until: number, perBatch: number, frames: (id: number) => Buffer[], pause: () => Promise<unknown>,
): Promise<void> {
  for (let id = 1; id < 2 ** 31 - 200;) {
    const batch: Buffer[] = [];
    for (let i = 0; i < perBatch; i++, id += 2) batch.push(...frames(id));
    stats.streams += perBatch;
    if (!(await send(socket, Buffer.concat(batch), stats, until))) break;
    await pause();
  }
  await holdUntil(socket, until);
}

const PIPELINED_GET = Buffer.from('GET / HTTP/1.1\r\nHost: abuse\r\n\r\n', 'latin1');
const PIPELINE_BATCH = Buffer.concat(Array.from({ length: Math.floor(16384 / PIPELINED_GET.length) }, () => PIPELINED_GET));
const times = (count: number, one: Buffer): Buffer => Buffer.concat(Array.from({ length: count }, () => one));

const runs: Record<AbuseShape, ConnectionRun> = {
  async 'h1-pipeline'(socket, stats, { until }) {
    // Never read: the responses pile up wherever the server lets them.
    socket.pause();
    await flood(socket, PIPELINE_BATCH, stats, until);
  },

  async 'h2-rapid-reset'(socket, stats, { until }) {
    h2Start(socket, stats, frame(SETTINGS, 0, 0));
    const block = getHeaderBlock('/');
    await openStreams(socket, stats, until, 100, (id) => [frame(HEADERS, END_HEADERS | END_STREAM, id, block), rstStreamFrame(id, NGHTTP2_CANCEL)], nextTurn);
  },

  async 'h2-unread'(socket, stats, { until }) {
    // A zero initial window: the server may send HEADERS, never a byte of DATA. No WINDOW_UPDATE ever comes.
    h2Start(socket, stats, settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 0]]));
    const block = getHeaderBlock('/');
    await openStreams(socket, stats, until, 50, (id) => [frame(HEADERS, END_HEADERS | END_STREAM, id, block)], () => sleep(5));
  },

  async 'h2-large-headers'(socket, stats, { until, headerBytes }) {
    h2Start(socket, stats, frame(SETTINGS, 0, 0));
    const block = largeHeaderBlock('/', headerBytes ?? 15 * 1024);
    // No END_STREAM: each request waits for a body that never comes.
    await openStreams(socket, stats, until, 4, (id) => [frame(HEADERS, END_HEADERS, id, block)], () => sleep(2));
  },

  async 'h2-settings-flood'(socket, stats, { until }) {
    h2Start(socket, stats, frame(SETTINGS, 0, 0));
    socket.pause(); // the server's ACKs are never read
    await flood(socket, times(1000, settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 65535]])), stats, until);
  },

  async 'h2-ping-flood'(socket, stats, { until }) {
    h2Start(socket, stats, frame(SETTINGS, 0, 0), false);
    socket.pause(); // the server's ACKs are never read
    await flood(socket, times(1000, frame(PING, 0, 0, Buffer.alloc(8, 7))), stats, until);
  },

  async 'h2-empty-data'(socket, stats, { until }) {
    h2Start(socket, stats, frame(SETTINGS, 0, 0));
    // A POST whose body is only ever empty DATA frames.
    const block = Buffer.concat([Buffer.from([0x83, 0x86]), hpackLiteral(':path', '/'), hpackLiteral(':authority', 'abuse')]);
    stats.streams += 1;
    if (!(await send(socket, frame(HEADERS, END_HEADERS, 1, block), stats, until))) return holdUntil(socket, until);
    await flood(socket, times(1000, frame(DATA, 0, 1)), stats, until, true);
  },

  async 'h2-continuation'(socket, stats, { until }) {
    h2Start(socket, stats, frame(SETTINGS, 0, 0));
    stats.streams += 1;
    // HEADERS without END_HEADERS, then CONTINUATION frames that never end it, each a header of its own.
    if (!(await send(socket, frame(HEADERS, END_STREAM, 1, getHeaderBlock('/')), stats, until))) return holdUntil(socket, until);
    const parts = Array.from({ length: 16 }, (_, i) => frame(CONTINUATION, 0, 1, hpackLiteral(`x-c-${i}`, 'c'.repeat(1000))));
    await flood(socket, Buffer.concat(parts), stats, until, true);
  },
};

/** Runs `shape` with `options.connections` connections at once until the deadline; resolves with what happened. */
export async function runAbuse(shape: AbuseShape, options: AbuseOptions): Promise<AbuseStats> {
  const stats = emptyStats();
  const run = runs[shape];
  const maxConnections = options.maxConnections ?? 100_000;
  const worker = async (): Promise<void> => {
    while (performance.now() < options.until && stats.connections < maxConnections) {
      const socket = await openSocket(options.port, options.host);
      stats.connections++;
      if (socket === null) {
        await sleep(50);
        continue;
      }
      await run(socket, stats, options);
      // A run ends before the deadline only when its connection is gone.
      if (performance.now() < options.until) {
        stats.closedByServer++;
        // An attacker reconnects at once; a short pause only keeps a refused loop from spinning.
        await sleep(10);
      }
      socket.destroy();
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  return stats;
}

export type SlowReaderKind = 'http1-download' | 'h2-download' | 'event-stream' | 'websocket' | 'tcp';

/**
 * A client that asks for a large (or endless) response and never reads a byte of it: its socket is paused
 * from the start, so whatever the server sends piles up in the kernel and then wherever the server lets it.
 * `port` is the public port (the TCP_PORTS port for `tcp`). Resolves once the request is written.
 */
export async function openSlowReader(kind: SlowReaderKind, port: number): Promise<Socket> {
  const socket = await openSocket(port);
  if (socket === null) throw new Error(`could not connect to ${port}`);
  socket.pause();
  switch (kind) {
    case 'http1-download':
      socket.write('GET /download HTTP/1.1\r\nHost: slow\r\n\r\n');
      break;
    case 'event-stream':
      socket.write('GET /events HTTP/1.1\r\nHost: slow\r\nAccept: text/event-stream\r\n\r\n');
      break;
    case 'websocket':
      socket.write('GET /socket HTTP/1.1\r\nHost: slow\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
        + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      break;
    case 'h2-download': {
      // Windows opened wide (stream and connection): nothing but TCP holds the server back.
      const window = 2 ** 31 - 1;
      const increment = Buffer.alloc(4);
      increment.writeUInt32BE(window - 65535);
      socket.write(Buffer.concat([
        PREFACE,
        settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, window]]),
        frame(WINDOW_UPDATE, 0, 0, increment),
        frame(HEADERS, END_HEADERS | END_STREAM, 1, getHeaderBlock('/download')),
      ]));
      break;
    }
    case 'tcp':
      break;
  }
  return socket;
}
