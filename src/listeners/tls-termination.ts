/**
 * TLS on the public HTTP ports: one `tls.Server` that never listens, fed the
 * accepted sockets after their PROXY header (`emit('connection')`, which takes
 * the bytes put back first), with the current certificate (`TlsCredentials`:
 * SNI handshakes get it from SNICallback, the others from the server's default
 * context, which every rotation replaces) and ALPN `h2`, `http/1.1`.
 *
 * A TLSSocket made by hand (`new TLSSocket(socket, { isServer: true })`) and
 * given to node:http2 after its handshake opens a session that never sees a
 * stream (Node 24.21); the server's own sockets work. The server hands back
 * only the TLSSocket, so each socket's `Peer` is found again by the TCP
 * connection's addresses, which the TLSSocket shows as its raw socket does.
 *
 * Loaded only when TLS_CERT_FILE is set: node:tls costs memory that a
 * cleartext proxy does not pay.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Peer } from './peer.ts';
import { ALPN_PROTOCOLS, type TlsCredentials } from './tls-credentials.ts';

/** Where a connection goes once its handshake is done, or that it did not make it. */
export interface TlsArrivals {
  secured(raw: Socket, socket: TLSSocket, peer: Peer): void;
  refused(raw: Socket, reason: 'tls_handshake_failed' | 'tls_handshake_timeout', details: object): void;
  gone(raw: Socket): void;
}

/** The TCP connection's four addresses: the same for a raw socket and the TLSSocket over it. */
function connectionKey(socket: Socket): string {
  return `${socket.localAddress} ${socket.localPort} ${socket.remoteAddress} ${socket.remotePort}`;
}

class Handshake {
  readonly key: string;
  readonly raw: Socket;
  readonly peer: Peer;
  readonly arrivals: TlsArrivals;
  readonly termination: TlsTermination;

  constructor(key: string, raw: Socket, peer: Peer, arrivals: TlsArrivals, termination: TlsTermination) {
    this.key = key;
    this.raw = raw;
    this.peer = peer;
    this.arrivals = arrivals;
    this.termination = termination;
  }
}

const kHandshake = Symbol('drain-proxy.tls.handshake');
type RawSocket = Socket & { [kHandshake]?: Handshake };

/** The TCP connection closed: if its handshake had neither ended nor failed, it is gone. */
function onRawClose(this: RawSocket): void {
  const handshake = this[kHandshake];
  if (handshake !== undefined) handshake.termination.end(handshake)?.arrivals.gone(this);
}

export class TlsTermination {
  readonly #server: Server;
  readonly #handshakes = new Map<string, Handshake>();

  /** `handshakeTimeoutMs` is HEADER_TIMEOUT: a handshake begun must end as soon as a request head must. */
  constructor(credentials: TlsCredentials, handshakeTimeoutMs: number) {
    this.#server = createServer({
      ...credentials.current.options,
      SNICallback: credentials.SNICallback,
      ALPNProtocols: [...ALPN_PROTOCOLS],
      handshakeTimeout: handshakeTimeoutMs,
    });
    credentials.onRotate((loaded) => this.#server.setSecureContext(loaded.options));
    this.#server.on('secureConnection', this.#onSecure);
    this.#server.on('tlsClientError', this.#onFailed);
  }

  /** Handshakes in progress. */
  get pending(): number {
    return this.#handshakes.size;
  }

  accept(raw: Socket, peer: Peer, arrivals: TlsArrivals): void {
    const key = connectionKey(raw);
    const handshake = new Handshake(key, raw, peer, arrivals, this);
    (raw as RawSocket)[kHandshake] = handshake;
    this.#handshakes.set(key, handshake);
    raw.once('close', onRawClose);
    // The TLSSocket takes this from the raw socket: a client's FIN during the handshake
    // closes the connection at once, not at the handshake timeout. HTTP/1.1 sets it back.
    raw.allowHalfOpen = false;
    this.#server.emit('connection', raw);
  }

  /** Takes `handshake` out of those in progress; undefined when it was out already. */
  end(handshake: Handshake | undefined): Handshake | undefined {
    if (handshake === undefined || this.#handshakes.get(handshake.key) !== handshake) return undefined;
    this.#handshakes.delete(handshake.key);
    (handshake.raw as RawSocket)[kHandshake] = undefined;
    return handshake;
  }

  readonly #onSecure = (socket: TLSSocket): void => {
    const handshake = this.end(this.#handshakes.get(connectionKey(socket)));
    if (handshake === undefined) {
      socket.destroy();
      return;
    }
    const alpn = socket.alpnProtocol;
    const servername = socket.servername;
    const peer = handshake.peer.withTls({
      version: socket.getProtocol() ?? 'unknown',
      alpn: typeof alpn === 'string' ? alpn : null,
      servername: typeof servername === 'string' ? servername : null,
    });
    handshake.arrivals.secured(handshake.raw, socket, peer);
  };

  readonly #onFailed = (err: NodeJS.ErrnoException, socket: TLSSocket): void => {
    const handshake = this.end(this.#handshakes.get(connectionKey(socket)));
    socket.destroy();
    if (handshake === undefined) return;
    const { raw, peer, arrivals } = handshake;
    raw.destroy();
    // A client that closed before sending anything is a load balancer's TCP check, not a failed handshake.
    if (raw.bytesRead === 0) {
      arrivals.gone(raw);
      return;
    }
    const reason = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls_handshake_timeout' : 'tls_handshake_failed';
    arrivals.refused(raw, reason, { err: err.message, code: err.code, client: peer.address });
  };
}
