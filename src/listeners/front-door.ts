/**
 * One public HTTP port (LISTEN_PORT, or an HTTP_PORTS entry) and the way every
 * connection comes in through it:
 *
 *   accept ─▶ MAX_CONNECTIONS, memory guard (ConnectionLimit: closed at once beyond them)
 *          ─▶ PROXY header, when PROXY_PROTOCOL is on (`ProxyHeaderRead`: the client's address)
 *          ─▶ TLS handshake, when TLS_CERT_FILE is set (`TlsTermination`: ALPN h2 or http/1.1)
 *          ─▶ protocol: over TLS, ALPN h2 ─▶ HTTP/2, anything else ─▶ HTTP/1.1; in cleartext the
 *             first bytes (`ProtocolSniffer`): the HTTP/2 preface ─▶ HTTP/2, anything else ─▶ HTTP/1.1
 *          ─▶ the protocol's handler, with the connection's `Peer`
 *
 * Until its handler has it, a connection is the front door's: the PROXY
 * header and the TLS handshake must each be complete within HEADER_TIMEOUT,
 * the first request bytes follow the sniffer's timeouts, and at the deadline
 * whatever is still on its way in is closed. A connection refused on the way
 * (no valid PROXY header, a failed handshake) is closed with nothing of it
 * forwarded, and counted in `drain_proxy_connections_refused_total`.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../log/index.ts';
import type { ConnectionLimit } from './connection-limit.ts';
import { Peer } from './peer.ts';
import { ProxyHeaderParser, type ProxyRefusal } from './proxy-protocol.ts';
import { PublicListener } from './public.ts';
import { ProtocolSniffer, type SniffTimings } from './sniff.ts';
import type { TlsTermination } from './tls-termination.ts';

export interface FrontDoorHandlers {
  readonly http1: (socket: Socket, peer: Peer) => void;
  readonly h2: (socket: Socket, peer: Peer) => void;
  /** The deadline, for the handlers' own state (the HTTP/2 side's sockets waiting for it to load). */
  readonly cut: () => void;
}

export interface FrontDoorOptions {
  readonly port: number;
  readonly proxyProtocol: boolean;
  readonly timings: SniffTimings;
  readonly limit: ConnectionLimit;
  readonly logger: Logger;
}

export class FrontDoor {
  /** The port, as metrics and logs name the listener. */
  readonly label: string;
  readonly port: number;
  readonly #listener: PublicListener;
  readonly #handlers: FrontDoorHandlers;
  readonly #sniffer: ProtocolSniffer;
  readonly #proxyProtocol: boolean;
  readonly #headerTimeoutMs: number;
  readonly #limit: ConnectionLimit;
  #tls: TlsTermination | null = null;
  /** Connections before the sniffer: reading their PROXY header or in their TLS handshake. */
  readonly #arriving = new Set<Socket>();

  constructor(handlers: FrontDoorHandlers, options: FrontDoorOptions) {
    this.port = options.port;
    this.label = String(options.port);
    this.#handlers = handlers;
    this.#proxyProtocol = options.proxyProtocol;
    this.#headerTimeoutMs = options.timings.headerTimeoutMs;
    this.#limit = options.limit;
    this.#sniffer = new ProtocolSniffer({ http1: handlers.http1, h2: handlers.h2 }, options.timings);
    this.#listener = new PublicListener(this.#accept, options.logger, options.limit);
  }

  /** Connections not handed to a protocol yet (for tests and the shutdown's accounting). */
  get pending(): number {
    return this.#arriving.size + this.#sniffer.pending;
  }

  /** Serves TLS from now on (before `listen`): every connection is a TLS one. */
  useTls(tls: TlsTermination): void {
    this.#tls = tls;
  }

  listen(host: string): Promise<number> {
    return this.#listener.listen(this.port, host);
  }

  /** Stops accepting (t0 + DRAIN_DELAY); the connections in stay. */
  close(): void {
    this.#listener.close();
  }

  /** A drain started: connections still silent are closed once silent for DRAIN_IDLE_CLOSE. */
  startDrain(): void {
    this.#sniffer.startDrain();
  }

  /** The deadline: whatever has not reached a handler is closed. */
  cut(): void {
    for (const socket of this.#arriving) socket.destroy();
    this.#arriving.clear();
    this.#sniffer.cut();
    this.#handlers.cut();
  }

  readonly #accept = (socket: Socket): void => {
    const peer = Peer.of(socket, this.label, 'http');
    if (this.#proxyProtocol) {
      this.#arriving.add(socket);
      new ProxyHeaderRead(socket, peer, this, this.#headerTimeoutMs);
    } else {
      this.relayed(socket, peer);
    }
  };

  /**
   * Past the PROXY header (or without one), `socket` paused or not yet read:
   * the TLS handshake (which takes the bytes put back first), or the protocol.
   */
  relayed(socket: Socket, peer: Peer): void {
    const tls = this.#tls;
    if (tls === null) {
      this.#arriving.delete(socket);
      this.#sniffer.accept(socket, peer);
      socket.resume();
      return;
    }
    this.#arriving.add(socket);
    tls.accept(socket, peer, this);
  }

  /**
   * The handshake is done: ALPN `h2` is HTTP/2, anything else HTTP/1.1. HTTP/2
   * over TLS is negotiated by ALPN only (RFC 9113 §3.2), so a client that
   * offered none is an HTTP/1.1 client; a preface from it gets an HTTP/1.1 505.
   */
  secured(raw: Socket, socket: Socket, peer: Peer): void {
    this.#arriving.delete(raw);
    if (peer.tls?.alpn === 'h2') {
      this.#handlers.h2(socket, peer);
      return;
    }
    // The handlers decide when our side of an HTTP/1.1 connection ends, as on a cleartext port.
    socket.allowHalfOpen = true;
    this.#sniffer.accept(socket, peer, true);
  }

  /** A connection that did not make it in (a bad PROXY header, a failed handshake), already closed. */
  refused(raw: Socket, reason: 'proxy_header_invalid' | 'proxy_header_timeout' | 'tls_handshake_failed' | 'tls_handshake_timeout', details: object): void {
    this.#arriving.delete(raw);
    this.#limit.refused(reason, { listener: this.label, ...details });
  }

  /** Closed by its client before it said anything: not a refusal (a load balancer's TCP check). */
  gone(raw: Socket): void {
    this.#arriving.delete(raw);
  }
}

/**
 * Reads a connection's PROXY header: the connection's first bytes, all of
 * them header until the parser says where the payload begins. The payload's
 * first bytes are put back (`unshift`, no copy) for the next stage. Anything
 * but a valid header (another protocol, a malformed or truncated header,
 * nothing within HEADER_TIMEOUT) closes the connection, and none of its
 * bytes go anywhere.
 */
class ProxyHeaderRead {
  readonly #socket: Socket;
  readonly #peer: Peer;
  readonly #door: FrontDoor;
  readonly #parser = new ProxyHeaderParser();
  readonly #timer: NodeJS.Timeout;

  constructor(socket: Socket, peer: Peer, door: FrontDoor, timeoutMs: number) {
    this.#socket = socket;
    this.#peer = peer;
    this.#door = door;
    this.#timer = setTimeout(this.#onTimeout, timeoutMs);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onEnd);
    socket.on('close', this.#onEnd);
  }

  readonly #onData = (chunk: Buffer): void => {
    const result = this.#parser.feed(chunk);
    if (result.kind === 'need-more') return;
    const socket = this.#socket;
    this.#detach();
    if (result.kind === 'refused') {
      this.#refuse(result.reason);
      return;
    }
    const { header, offset } = result;
    socket.pause();
    if (offset < chunk.length) socket.unshift(chunk.subarray(offset));
    const peer = header.source === null ? this.#peer : this.#peer.relayedFor(header.source.address, header.source.port);
    this.#door.relayed(socket, peer);
  };

  readonly #onEnd = (): void => {
    this.#detach();
    if (this.#parser.received === 0) {
      this.#socket.destroy();
      this.#door.gone(this.#socket);
    } else {
      this.#refuse('truncated');
    }
  };

  readonly #onTimeout = (): void => {
    this.#detach();
    this.#refuse('timeout');
  };

  #refuse(reason: ProxyRefusal): void {
    this.#socket.destroy();
    this.#door.refused(this.#socket, reason === 'timeout' ? 'proxy_header_timeout' : 'proxy_header_invalid', { proxyHeader: reason, client: this.#peer.address });
  }

  #detach(): void {
    clearTimeout(this.#timer);
    const socket = this.#socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('error', this.#onEnd);
    socket.off('close', this.#onEnd);
  }
}
