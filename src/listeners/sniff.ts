/**
 * Which protocol a public-port connection speaks, from its first bytes:
 * cleartext HTTP/2 with prior knowledge (h2c, what gRPC clients use inside a
 * cluster) starts with the 24-byte connection preface, anything else is
 * HTTP/1.1. `node:http2` has no cleartext fallback (nodejs #26795), so the
 * choice is made here, once per connection (over TLS too when the client
 * offered no ALPN; after ALPN `http/1.1` only the first byte is waited for):
 *
 *   accept ──first chunk──▶ byte 0 is not 'P' ─────────────────────▶ HTTP/1.1
 *                │
 *                └─ bytes so far equal the preface's start ─┬─ 24 matched ─▶ h2
 *                     (a preface may arrive split)          └─ mismatch ───▶ HTTP/1.1
 *
 * The bytes read are put back (`unshift`) and the socket handed over; from
 * then on nothing of this runs for the connection. The common HTTP/1.1 case
 * costs one byte comparison on the first chunk and no copy; only a preface
 * split across chunks is joined.
 *
 * A connection that has sent nothing yet is not in the connection registry
 * (its protocol is unknown): until its first byte, a keep-alive timeout
 * applies, and during a drain it is closed once it has been silent for
 * DRAIN_IDLE_CLOSE, like an idle HTTP/1.1 connection. A preface begun must
 * be complete within HEADER_TIMEOUT. Those two are checked by a sweep once a
 * second, not by socket timeouts: `socket.setTimeout()` costs a timer per
 * accept, and a cleared one stays referenced by the socket for its whole life.
 */
import type { Socket } from 'node:net';
import type { Peer } from './peer.ts';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const NEED_MORE = 0;
export const HTTP1 = 1;
export const H2 = 2;
export type Verdict = typeof NEED_MORE | typeof HTTP1 | typeof H2;

/**
 * Compares `chunk` with the preface from offset `matched` (bytes already seen
 * and equal). Returns HTTP1 at the first differing byte, H2 once all 24 bytes
 * are equal, NEED_MORE when the chunk ended first.
 */
export function matchPreface(chunk: Uint8Array, matched: number): Verdict {
  const n = Math.min(chunk.length, PREFACE.length - matched);
  for (let i = 0; i < n; i++) if (chunk[i] !== PREFACE[matched + i]) return HTTP1;
  return matched + n === PREFACE.length ? H2 : NEED_MORE;
}

export interface SniffTimings {
  readonly keepAliveTimeoutMs: number;
  readonly headerTimeoutMs: number;
  readonly drainIdleCloseMs: number;
}

export interface SniffHandlers {
  readonly http1: (socket: Socket, peer: Peer) => void;
  readonly h2: (socket: Socket, peer: Peer) => void;
}

/** How often silent connections and unfinished prefaces are checked against their timeouts. */
const SWEEP_INTERVAL_MS = 1000;
/**
 * A connection accepted during the drain is served (endpoint removal is still
 * propagating), so it gets at least this long to send its first bytes even
 * when DRAIN_IDLE_CLOSE is shorter: that setting is about connections already
 * quiet, not ones that have had no time to speak.
 */
const FIRST_BYTES_GRACE_MS = 1000;

class PendingSocket {
  readonly socket: Socket;
  readonly peer: Peer;
  /** ALPN chose HTTP/1.1: whatever the bytes, the connection is HTTP/1.1. */
  readonly #http1Only: boolean;
  readonly acceptedAt = performance.now();
  /** When the first part of a preface arrived: the rest is due within HEADER_TIMEOUT, like the rest of a request head. */
  partSince: number | undefined;
  readonly #sniffer: ProtocolSniffer;
  #chunks: Buffer[] = [];
  #matched = 0;
  /** During a drain only: closes the connection once it has been silent for DRAIN_IDLE_CLOSE. */
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, peer: Peer, http1Only: boolean, sniffer: ProtocolSniffer) {
    this.socket = socket;
    this.peer = peer;
    this.#http1Only = http1Only;
    this.#sniffer = sniffer;
    socket.on('data', this.#onData);
    socket.on('end', this.#onGone);
    socket.on('error', this.#onGone);
    socket.on('close', this.#onGone);
  }

  closeIn(ms: number): void {
    this.#drainTimer = setTimeout(this.#onGone, ms);
  }

  readonly #onData = (chunk: Buffer): void => {
    const verdict = this.#http1Only ? HTTP1 : matchPreface(chunk, this.#matched);
    if (verdict === NEED_MORE) {
      this.partSince ??= performance.now();
      this.#chunks.push(chunk);
      this.#matched += chunk.length;
      return;
    }
    const socket = this.socket;
    this.#detach();
    socket.pause();
    const seen = this.#chunks;
    socket.unshift(seen.length === 0 ? chunk : Buffer.concat([...seen, chunk]));
    this.#chunks = [];
    this.#sniffer.decided(this, verdict);
  };

  /** Closed, failed or silent past its timeout before saying anything: nothing to hand over. */
  readonly #onGone = (): void => {
    clearTimeout(this.#drainTimer);
    this.#detach();
    this.socket.destroy();
    this.#sniffer.forget(this);
  };

  #detach(): void {
    const socket = this.socket;
    clearTimeout(this.#drainTimer);
    socket.off('data', this.#onData);
    socket.off('end', this.#onGone);
    socket.off('error', this.#onGone);
    socket.off('close', this.#onGone);
  }

  /** Closes the connection when it is past its timeout at `now`. */
  expireAt(now: number, keepAliveTimeoutMs: number, headerTimeoutMs: number): void {
    const expired = this.partSince === undefined ? now - this.acceptedAt >= keepAliveTimeoutMs : now - this.partSince >= headerTimeoutMs;
    if (expired) this.#onGone();
  }
}

export class ProtocolSniffer {
  readonly #pending = new Set<PendingSocket>();
  readonly #handlers: SniffHandlers;
  readonly #timings: SniffTimings;
  #draining = false;
  #sweep: NodeJS.Timeout | undefined;

  constructor(handlers: SniffHandlers, timings: SniffTimings) {
    this.#handlers = handlers;
    this.#timings = timings;
  }

  /** Connections that have not sent their first byte yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Waits for `socket`'s first bytes; `http1Only` when ALPN already chose HTTP/1.1. */
  accept(socket: Socket, peer: Peer, http1Only = false): void {
    const entry = new PendingSocket(socket, peer, http1Only, this);
    this.#pending.add(entry);
    if (this.#draining) entry.closeIn(Math.max(FIRST_BYTES_GRACE_MS, this.#timings.drainIdleCloseMs));
    this.#sweep ??= setInterval(this.#expire, SWEEP_INTERVAL_MS).unref();
  }

  readonly #expire = (): void => {
    const now = performance.now();
    const { keepAliveTimeoutMs, headerTimeoutMs } = this.#timings;
    for (const entry of [...this.#pending]) entry.expireAt(now, keepAliveTimeoutMs, headerTimeoutMs);
  };

  /** A drain started: connections still silent are closed once silent for DRAIN_IDLE_CLOSE. */
  startDrain(): void {
    this.#draining = true;
    const now = performance.now();
    for (const entry of [...this.#pending]) {
      const wait = this.#timings.drainIdleCloseMs - (now - entry.acceptedAt);
      if (wait <= 0) entry.socket.destroy();
      else entry.closeIn(Math.ceil(wait));
    }
  }

  /** The deadline: close whatever is still silent; nothing is swept any more. */
  cut(): void {
    clearInterval(this.#sweep);
    for (const entry of [...this.#pending]) entry.socket.destroy();
  }

  decided(entry: PendingSocket, verdict: Verdict): void {
    this.#pending.delete(entry);
    const socket = entry.socket;
    if (verdict === H2) {
      this.#handlers.h2(socket, entry.peer);
    } else {
      this.#handlers.http1(socket, entry.peer);
      socket.resume();
    }
  }

  forget(entry: PendingSocket): void {
    this.#pending.delete(entry);
  }
}
