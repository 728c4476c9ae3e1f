/**
 * Who a client connection is, as the front door established it: the client's
 * address and port (the PROXY header's source when PROXY_PROTOCOL is on,
 * otherwise the socket's peer), the scheme it reached the proxy by, which
 * listener took it, and the TLS session's details on a TLS port. Protocol
 * handlers read these instead of the socket: behind a load balancer speaking
 * the PROXY protocol, or after a TLS handshake, the socket no longer says.
 */
import type { Socket } from 'node:net';
import { peerAddress } from './address.ts';

export type Scheme = 'http' | 'https';

export interface TlsDetails {
  /** `TLSv1.3` or `TLSv1.2`. */
  readonly version: string;
  /** What ALPN chose (`h2`, `http/1.1`), or null when the client offered none. */
  readonly alpn: string | null;
  /** The SNI name the client asked for, or null. */
  readonly servername: string | null;
}

export class Peer {
  /** The client's address as logs, X-Forwarded-For and TRUSTED_PROXIES take it (`10.0.0.7`, not `::ffff:10.0.0.7`). */
  readonly address: string;
  readonly port: number;
  readonly scheme: Scheme;
  /** The listener's label: its port, as metrics and access logs name it. */
  readonly listener: string;
  readonly tls: TlsDetails | null;

  constructor(address: string, port: number, scheme: Scheme, listener: string, tls: TlsDetails | null) {
    this.address = address;
    this.port = port;
    this.scheme = scheme;
    this.listener = listener;
    this.tls = tls;
  }

  /** The socket's own peer, as accepted on `listener`. */
  static of(socket: Socket, listener: string, scheme: Scheme): Peer {
    return new Peer(peerAddress(socket.remoteAddress), socket.remotePort ?? 0, scheme, listener, null);
  }

  /** The same connection, relayed for `address`:`port` (a PROXY header's source). */
  relayedFor(address: string, port: number): Peer {
    return new Peer(peerAddress(address), port, this.scheme, this.listener, this.tls);
  }

  withTls(tls: TlsDetails): Peer {
    return new Peer(this.address, this.port, 'https', this.listener, tls);
  }
}
