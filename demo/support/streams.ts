/**
 * Long-lived clients of the emulated Service: WebSocket clients (the `ws`
 * package) and server-sent event clients. Each keeps one stream open to an
 * endpoint it picked from the Service's current endpoint list and, when the
 * server ends that stream (or it breaks), reconnects to a ready endpoint, as
 * a browser app or an EventSource would. Every session is recorded: where it
 * went, how it ended (close code, clean end or cut), when.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { Endpoint, EndpointList } from './traffic.ts';
import { ClientGroup } from './client-group.ts';

export interface StreamPlan {
  readonly webSocketClients: number;
  readonly eventStreamClients: number;
  /** Sessions are opened until then; at that moment the clients end theirs (WebSocket close 1000). */
  readonly durationMs: number;
  /** Wait before reconnecting after a stream ended or a connect failed. */
  readonly reconnectDelayMs: number;
  /** A WebSocket client sends "ping <n>" this often; the app echoes it. */
  readonly pingEveryMs: number;
  /** Opening handshake (or response head) must arrive within this long. */
  readonly connectTimeoutMs: number;
}

/** How a session ended. */
export type SessionEnd =
  | 'server' // the server ended it: a close frame (WebSocket) or a complete end of the response (SSE)
  | 'cut' // the connection broke: no close frame (1006), or a response cut short
  | 'client' // the client itself, at the end of the run
  | 'connect-failed'; // never opened

/** One stream of one client, from the connect attempt to its end. */
interface StreamSession {
  readonly client: number;
  readonly pod: string;
  /** On the load generator's clock. */
  readonly startedAt: number;
  readonly openedAt: number | undefined;
  readonly endedAt: number;
  readonly end: SessionEnd;
}

export interface WebSocketSession extends StreamSession {
  /** The close code the client saw (1006: no close frame was received). */
  readonly code: number;
  readonly reason: string;
  /** An error the client reported (connect failure, reset, protocol error), if any. */
  readonly error: string | undefined;
  readonly ticks: number;
  readonly echoes: number;
  /** The pod the app's ticks came from ("tick n from pod-3"), when one came. */
  readonly servedBy: string | undefined;
}

export interface EventStreamSession extends StreamSession {
  readonly detail: string;
  /** The Last-Event-ID header sent, when resuming. */
  readonly resumedAfter: number | undefined;
  readonly firstId: number | undefined;
  readonly lastId: number | undefined;
  readonly events: number;
  /** Bytes of an event that had started but not ended when the stream ended (0 = ended between events). */
  readonly partialBytes: number;
  /** Event ids that were skipped or repeated (within the stream or relative to Last-Event-ID). */
  readonly idGaps: number;
}

/** Sessions per client at most: bounds the reconnect loops whatever happens. */
const MAX_SESSIONS_PER_CLIENT = 200;
/** After asking to close (at the end of the run), give up on the handshake after this long. */
const CLIENT_CLOSE_TIMEOUT_MS = 2000;
/** Stagger the clients' first connections a little. */
const START_STAGGER_MS = 25;

export class StreamClients extends ClientGroup<StreamPlan> {
  readonly webSocketSessions: WebSocketSession[] = [];
  readonly eventStreamSessions: EventStreamSession[] = [];
  readonly #endpoints: EndpointList;
  /** How to end each open session from the client's side, for `stop()`. */
  readonly #closers = new Set<() => void>();

  constructor(endpoints: EndpointList, plan: StreamPlan, clock: () => number) {
    super(plan, clock);
    this.#endpoints = endpoints;
  }

  /** Ends the run early: open sessions are ended by the clients now, no new one is opened. */
  override stop(): void {
    super.stop();
    for (const close of [...this.#closers]) close();
  }

  /** Runs every client until the end of the plan; resolves when every session has ended. */
  async run(): Promise<void> {
    const clients: Promise<void>[] = [];
    for (let i = 0; i < this.plan.webSocketClients; i++) {
      clients.push(this.#reconnecting(i, async (endpoint) => {
        const session = await this.#webSocket(i, endpoint);
        this.webSocketSessions.push(session);
        return session;
      }));
    }
    for (let i = 0; i < this.plan.eventStreamClients; i++) {
      let lastId: number | undefined;
      clients.push(this.#reconnecting(i, async (endpoint) => {
        const session = await this.#eventStream(i, endpoint, lastId);
        this.eventStreamSessions.push(session);
        lastId = session.lastId ?? lastId;
        return session;
      }));
    }
    await Promise.all(clients);
  }

  /** One client: a session at a time, reconnecting (round robin over the ready endpoints) until the run is over. */
  async #reconnecting(index: number, open: (endpoint: Endpoint) => Promise<{ end: SessionEnd }>): Promise<void> {
    await sleep(index * START_STAGGER_MS);
    let turn = index;
    for (let sessions = 0; sessions < MAX_SESSIONS_PER_CLIENT && this.open; sessions++) {
      const endpoint = this.#endpoints.pick(turn++);
      if (endpoint === undefined) return;
      const session = await open(endpoint);
      if (session.end === 'client') return;
      await sleep(this.plan.reconnectDelayMs);
    }
  }

  #webSocket(client: number, endpoint: Endpoint): Promise<WebSocketSession> {
    const startedAt = this.clock();
    return new Promise((resolve) => {
      const socket = new WebSocket(`ws://${endpoint.host}:${endpoint.port}/ws`, {
        handshakeTimeout: this.plan.connectTimeoutMs,
        perMessageDeflate: false,
      });
      let openedAt: number | undefined;
      let error: string | undefined;
      let closingByClient = false;
      let ticks = 0;
      let echoes = 0;
      let servedBy: string | undefined;
      let pings = 0;
      let pingTimer: NodeJS.Timeout | undefined;
      let endTimer: NodeJS.Timeout | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      // Whatever state the connection is in (a closing handshake the server never finishes included), it ends by then.
      const hardStop = setTimeout(
        () => socket.terminate(),
        this.remainingMs + this.plan.connectTimeoutMs + CLIENT_CLOSE_TIMEOUT_MS,
      );

      const closeByClient = (): void => {
        if (closingByClient || socket.readyState !== WebSocket.OPEN) return;
        closingByClient = true;
        socket.close(1000, 'run over');
        killTimer = setTimeout(() => socket.terminate(), CLIENT_CLOSE_TIMEOUT_MS);
      };

      socket.on('open', () => {
        openedAt = this.clock();
        pingTimer = setInterval(() => socket.send(`ping ${++pings}`), this.plan.pingEveryMs);
        endTimer = setTimeout(closeByClient, this.remainingMs);
        this.#closers.add(closeByClient);
      });
      socket.on('message', (data) => {
        const text = data.toString();
        if (text.startsWith('tick ')) {
          ticks++;
          servedBy ??= text.slice(text.lastIndexOf(' ') + 1);
        } else if (text.startsWith('echo ')) echoes++;
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        error ??= err.code ?? err.message;
      });
      socket.on('close', (code, reason) => {
        this.#closers.delete(closeByClient);
        clearInterval(pingTimer);
        clearTimeout(endTimer);
        clearTimeout(killTimer);
        clearTimeout(hardStop);
        let end: SessionEnd;
        if (openedAt === undefined) end = 'connect-failed';
        else if (closingByClient) end = 'client';
        else if (code === 1006) end = 'cut';
        else end = 'server';
        resolve({
          client,
          pod: endpoint.pod,
          startedAt,
          openedAt,
          endedAt: this.clock(),
          end,
          code,
          reason: reason.toString(),
          error,
          ticks,
          echoes,
          servedBy,
        });
      });
    });
  }

  #eventStream(client: number, endpoint: Endpoint, resumedAfter: number | undefined): Promise<EventStreamSession> {
    const startedAt = this.clock();
    return new Promise((resolve) => {
      let openedAt: number | undefined;
      let firstId: number | undefined;
      let lastId: number | undefined;
      let events = 0;
      let idGaps = 0;
      let pending = '';
      let endedByClient = false;
      let settled = false;
      let endTimer: NodeJS.Timeout | undefined;
      let endByClient: (() => void) | undefined;
      const settle = (end: SessionEnd, detail: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(endTimer);
        if (endByClient !== undefined) this.#closers.delete(endByClient);
        resolve({
          client,
          pod: endpoint.pod,
          startedAt,
          openedAt,
          endedAt: this.clock(),
          end: endedByClient ? 'client' : end,
          detail: endedByClient ? 'ended by the client' : detail,
          resumedAfter,
          firstId,
          lastId,
          events,
          partialBytes: Buffer.byteLength(pending),
          idGaps,
        });
      };
      const dispatch = (event: string): void => {
        const idLine = event.split('\n').find((line) => line.startsWith('id:'));
        if (idLine === undefined) return;
        const id = Number(idLine.slice(3).trim());
        const expected = lastId !== undefined ? lastId + 1 : resumedAfter !== undefined ? resumedAfter + 1 : undefined;
        if (expected !== undefined && id !== expected) idGaps++;
        firstId ??= id;
        lastId = id;
        events++;
      };

      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (resumedAfter !== undefined) headers['last-event-id'] = String(resumedAfter);
      const req = http.get(
        { host: endpoint.host, port: endpoint.port, path: '/events', headers, agent: false, timeout: this.plan.connectTimeoutMs },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            settle('connect-failed', `status ${res.statusCode}`);
            req.destroy();
            return;
          }
          openedAt = this.clock();
          req.setTimeout(0);
          endByClient = (): void => {
            endedByClient = true;
            req.destroy();
            settle('client', 'ended by the client');
          };
          this.#closers.add(endByClient);
          endTimer = setTimeout(endByClient, this.remainingMs);
          res.setEncoding('utf8');
          res.on('data', (text: string) => {
            pending += text;
            for (let end = pending.indexOf('\n\n'); end !== -1; end = pending.indexOf('\n\n')) {
              dispatch(pending.slice(0, end));
              pending = pending.slice(end + 2);
            }
          });
          res.on('end', () => settle(pending.length === 0 ? 'server' : 'cut', pending.length === 0
            ? 'response ended after a complete event'
            : `response ended inside an event (${Buffer.byteLength(pending)} bytes of it)`));
          res.on('error', (err: NodeJS.ErrnoException) => settle('cut', err.code ?? err.message));
          res.on('close', () => {
            if (!res.complete) settle('cut', 'response cut short');
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('no response head in time'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => settle(openedAt === undefined ? 'connect-failed' : 'cut', err.code ?? err.message));
    });
  }
}
