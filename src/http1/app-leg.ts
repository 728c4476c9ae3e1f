/**
 * The app side of one HTTP/1.1 client connection: its own connection to the
 * app, opened with the first request, the request bytes written to it (held
 * while it connects), and the responses framed on their way back to the
 * client, verbatim, with backpressure both ways.
 *
 *   CONNECTING ──connect──▶ CONNECTED ──drop(), or handed to a tunnel──▶ GONE
 *        └────────── UPSTREAM_CONNECT_TIMEOUT, refused ─────────────────▶ (the owner drops it)
 *
 * Framing decides nothing here: interim responses pass through, and every
 * final response's head and end, and every failure, go to the owner (the
 * connection), which decides what they mean for the connection's life.
 */
import { connect, type Socket } from 'node:net';
import type { UpstreamAddress } from '../config/index.ts';
import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics, UpstreamErrorKind } from '../metrics/index.ts';
import { socketBufferedBytes } from '../net/socket-pair.ts';
import type { EventStreamEnd } from './event-stream.ts';
import { CONTINUE, ResponseFramer, type FramerLimits, type FramerSink, type Verdict } from './framer.ts';
import type { MessageHead } from './head.ts';

export interface AppLegSettings {
  readonly upstream: UpstreamAddress;
  readonly connectTimeoutMs: number;
  readonly limits: FramerLimits;
}

/** Where the app's failures are counted and logged. */
export interface AppLegContext {
  readonly settings: AppLegSettings;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** A connection to the app failed: re-check its health now. */
  readonly upstreamFailed: () => void;
}

export interface AppLegOwner {
  /** A final response head (101 included); returns replacement bytes, or undefined to pass it on as received. */
  responseHead(head: MessageHead): Buffer | undefined;
  /** A final response ended. */
  responseComplete(head: MessageHead): Verdict;
  /** The app sent a response that cannot be framed (counted); nothing of it from there on was forwarded. */
  responseUnframeable(): void;
  /** The app took what was written (connected, or drained): the client may be read again. */
  appWritable(): void;
  /** The app closed its side. */
  appEnded(): void;
  appFailed(kind: UpstreamErrorKind, err?: NodeJS.ErrnoException): void;
}

/** Request bytes held while the app connection is being opened, before the client is paused. */
const MAX_QUEUED_BYTES = 64 * 1024;

const CONNECTING = 0;
const CONNECTED = 1;
const GONE = 2;

const kLeg = Symbol('drain-proxy.http1.app-leg');
type LegSocket = Socket & { [kLeg]: AppLeg | undefined };

export class AppLeg implements FramerSink {
  readonly framer: ResponseFramer;
  /** The response in progress is an event stream, ended by the proxy at drain; null otherwise. */
  eventStream: EventStreamEnd | null = null;
  readonly #owner: AppLegOwner;
  readonly #ctx: AppLegContext;
  readonly #client: Socket;
  readonly #socket: LegSocket;
  #state = CONNECTING;
  #connectTimer: NodeJS.Timeout | undefined;
  #queued: Buffer[] = [];
  #queuedBytes = 0;

  constructor(owner: AppLegOwner, client: Socket, ctx: AppLegContext) {
    const { settings } = ctx;
    this.#owner = owner;
    this.#ctx = ctx;
    this.#client = client;
    this.framer = new ResponseFramer(this, settings.limits);
    const { host, port } = settings.upstream;
    const socket = connect({ host, port, noDelay: true, allowHalfOpen: true }) as LegSocket;
    this.#socket = socket;
    socket[kLeg] = this;
    socket.once('connect', AppLeg.#onConnect);
    for (const [event, listener] of AppLeg.#listeners) socket.on(event, listener);
    this.#connectTimer = setTimeout(AppLeg.#onConnectTimeout, settings.connectTimeoutMs, this);
  }

  get connected(): boolean {
    return this.#state === CONNECTED;
  }

  /** Bytes held for the app: its socket's buffers and what waits for the connection. */
  get bufferedBytes(): number {
    return socketBufferedBytes(this.#socket) + this.#queuedBytes;
  }

  /** The client must not be read for now: the app has not taken what was written. */
  get mustWait(): boolean {
    return this.#state === CONNECTED ? this.#socket.writableNeedDrain : this.#queuedBytes > MAX_QUEUED_BYTES;
  }

  /** Request bytes for the app, held until it is connected; false when the client should wait. */
  write(bytes: Buffer): boolean {
    if (this.#state === CONNECTED) return this.#socket.write(bytes);
    this.#queued.push(bytes);
    this.#queuedBytes += bytes.length;
    return this.#queuedBytes <= MAX_QUEUED_BYTES;
  }

  /** The client took what was written to it: read the app again. */
  resume(): void {
    this.#socket.resume();
  }

  /** Counts and logs a failure of this connection to the app (one the client is told of: not an idle one's). */
  countFailure(kind: UpstreamErrorKind, client: string, err?: NodeJS.ErrnoException): void {
    const { metrics, logger, upstreamFailed } = this.#ctx;
    metrics.upstreamError(kind);
    logger.warn({ kind, code: err?.code, client }, 'upstream connection failed');
    if (kind === 'connect_refused' || kind === 'connect_timeout') upstreamFailed();
  }

  /** Closes the app connection; nothing of it reaches the owner any more. */
  drop(): void {
    this.#letGo();
    this.#socket.destroy();
  }

  /** The app connection for a tunnel, without this leg's listeners (a 101 was complete). */
  release(): Socket {
    this.#letGo();
    const socket = this.#socket;
    socket.off('connect', AppLeg.#onConnect);
    for (const [event, listener] of AppLeg.#listeners) socket.off(event, listener);
    socket[kLeg] = undefined;
    return socket;
  }

  #letGo(): void {
    this.#state = GONE;
    clearTimeout(this.#connectTimer);
    this.framer.stop();
    this.eventStream?.stop();
    this.eventStream = null;
    this.#queued = [];
    this.#queuedBytes = 0;
  }

  // ---- the response framer's sink ----------------------------------------

  onHead(head: MessageHead): Buffer | undefined {
    // Interim responses (100 Continue, 103 Early Hints) pass through: the final one to the same request follows.
    if (head.status < 200 && head.status !== 101) return undefined;
    return this.#owner.responseHead(head);
  }

  onData(bytes: Buffer): void {
    if (!this.#client.write(bytes)) this.#socket.pause();
  }

  onMessageComplete(head: MessageHead): Verdict {
    if (head.status < 200 && head.status !== 101) return CONTINUE;
    if (this.eventStream !== null) {
      this.eventStream.stop();
      this.eventStream = null;
    }
    return this.#owner.responseComplete(head);
  }

  onChunkEnd(): boolean {
    return this.eventStream?.chunkEnded() ?? false;
  }

  onError(code: ErrorCode): void {
    this.#ctx.logger.warn({ code }, 'upstream sent a response that cannot be framed');
    this.#ctx.metrics.upstreamError('bad_response');
    this.#owner.responseUnframeable();
  }

  // ---- the socket's listeners: one function each for the process (no closures per connection) ----

  static #onConnect(this: LegSocket): void {
    const leg = this[kLeg];
    if (leg === undefined || leg.#state !== CONNECTING) return;
    clearTimeout(leg.#connectTimer);
    leg.#state = CONNECTED;
    const queued = leg.#queued;
    leg.#queued = [];
    leg.#queuedBytes = 0;
    for (const bytes of queued) this.write(bytes);
    leg.#owner.appWritable();
  }

  static #onData(this: LegSocket, chunk: Buffer): void {
    const leg = this[kLeg];
    if (leg === undefined || leg.#state === GONE) return;
    leg.framer.push(chunk);
    leg.eventStream?.afterData();
  }

  static #onDrain(this: LegSocket): void {
    const leg = this[kLeg];
    if (leg !== undefined && leg.#state !== GONE) leg.#owner.appWritable();
  }

  static #onEnd(this: LegSocket): void {
    const leg = this[kLeg];
    if (leg !== undefined && leg.#state !== GONE) leg.#owner.appEnded();
  }

  static #onError(this: LegSocket, err: NodeJS.ErrnoException): void {
    const leg = this[kLeg];
    if (leg !== undefined && leg.#state !== GONE) leg.#owner.appFailed(leg.#state === CONNECTED ? 'reset' : 'connect_refused', err);
  }

  static #onClose(this: LegSocket): void {
    const leg = this[kLeg];
    if (leg !== undefined && leg.#state !== GONE) leg.#owner.appFailed('reset');
  }

  static #onConnectTimeout(leg: AppLeg): void {
    if (leg.#state === CONNECTING) leg.#owner.appFailed('connect_timeout');
  }

  static readonly #listeners: ReadonlyArray<readonly [string, (...args: any[]) => void]> = [
    ['data', AppLeg.#onData],
    ['drain', AppLeg.#onDrain],
    ['end', AppLeg.#onEnd],
    ['error', AppLeg.#onError],
    ['close', AppLeg.#onClose],
  ];
}
