/**
 * An app that pushes bytes as fast as its peer (the proxy) takes them, on
 * every protocol the proxy carries, and tells how far each push got: for
 * slow-reader tests, where a client never reads and the question is where
 * the bytes pile up. Each push writes 16 KiB at a time up to `PUSH_BYTES`,
 * waiting for 'drain' whenever the socket pushes back.
 *
 *   HTTP/1.1  GET /download      a 64 MiB body (Content-Length)
 *             GET /events        an event stream (text/event-stream, chunked), 1 KiB events
 *             anything else      200 "ok"
 *   WebSocket any path           binary messages of 16 KiB
 *   TCP       the second port    raw bytes
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export const PUSH_BYTES = 64 * 1024 * 1024;
const CHUNK = Buffer.alloc(16 * 1024, 'x');
const EVENT = Buffer.from(`data: ${'e'.repeat(1016)}\n\n`, 'latin1');

export type PushKind = 'download' | 'events' | 'websocket' | 'tcp';

/** One push in progress: bytes accepted by the app's socket so far, and since when it has waited for 'drain'. */
export class Push {
  readonly kind: PushKind;
  accepted = 0;
  /** performance.now() when the last write pushed back and no 'drain' has come since; undefined while flowing. */
  waitingSince: number | undefined = undefined;
  done = false;

  constructor(kind: PushKind) {
    this.kind = kind;
  }

  /** Waiting for the peer for at least `ms`: everything between the app and the client is full. */
  stalledFor(ms: number): boolean {
    return this.waitingSince !== undefined && performance.now() - this.waitingSince >= ms;
  }
}

interface Writer {
  write(chunk: Buffer): boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
  readonly destroyed: boolean;
}

/** Writes `chunk` over and over up to PUSH_BYTES, pausing on backpressure. */
async function push(writer: Writer, chunk: Buffer, state: Push, end: () => void): Promise<void> {
  let closed = false;
  writer.once('close', () => (closed = true));
  while (state.accepted < PUSH_BYTES && !closed && !writer.destroyed) {
    state.accepted += chunk.length;
    if (writer.write(chunk)) continue;
    state.waitingSince = performance.now();
    await new Promise<void>((resolve) => {
      const done = (): void => {
        writer.off('drain', done);
        writer.off('close', done);
        resolve();
      };
      writer.once('drain', done);
      writer.once('close', done);
    });
    state.waitingSince = undefined;
  }
  state.done = state.accepted >= PUSH_BYTES;
  if (!closed) end();
}

export interface PushingApp {
  readonly port: number;
  readonly tcpPort: number;
  readonly pushes: Push[];
  close(): Promise<void>;
}

export async function startPushingApp(): Promise<PushingApp> {
  const pushes: Push[] = [];
  const start = (kind: PushKind): Push => {
    const state = new Push(kind);
    pushes.push(state);
    return state;
  };
  const http: Server = createHttpServer((req, res) => {
    res.on('error', () => {});
    if (req.url === '/download') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(PUSH_BYTES) });
      void push(res, CHUNK, start('download'), () => res.end());
    } else if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      void push(res, EVENT, start('events'), () => res.end());
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
      res.end('ok\n');
    }
  });
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', () => {});
    const socket = (ws as unknown as { _socket: Writer })._socket;
    // ws.send queues without limit: the socket's own backpressure decides when the next message goes.
    const writer: Writer = {
      write: (chunk) => {
        ws.send(chunk, { binary: true });
        return !(socket as unknown as { writableNeedDrain: boolean }).writableNeedDrain;
      },
      once: (event, listener) => socket.once(event, listener),
      off: (event, listener) => socket.off(event, listener),
      get destroyed() {
        return socket.destroyed;
      },
    };
    void push(writer, CHUNK, start('websocket'), () => ws.close());
  });
  const tcp: NetServer = createNetServer((socket) => {
    socket.on('error', () => {});
    void push(socket, CHUNK, start('tcp'), () => socket.end());
  });
  http.listen(0, '127.0.0.1');
  tcp.listen(0, '127.0.0.1');
  await Promise.all([once(http, 'listening'), once(tcp, 'listening')]);
  const portOf = (server: Server | NetServer): number => {
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  };
  return {
    port: portOf(http),
    tcpPort: portOf(tcp),
    pushes,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      http.closeAllConnections();
      await Promise.all([new Promise((resolve) => http.close(resolve)), new Promise((resolve) => tcp.close(resolve))]);
    },
  };
}
