/**
 * Header sets crossing between HTTP/2 and the upstream. HTTP/2 forbids the
 * connection-specific (hop-by-hop) fields, and node:http2 throws
 * ERR_HTTP2_INVALID_CONNECTION_HEADERS when one is passed to it (nodejs
 * #23748), so they are stripped both ways, together with any field an
 * HTTP/1.1 `Connection` header names.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

export type HeaderValue = string | string[] | number | undefined;

/** What a session adds to its streams' requests; null when FORWARDED_HEADERS is off. Decided once per session. */
export interface Forwarding {
  readonly clientAddress: string;
  /** The peer is in TRUSTED_PROXIES: its X-Forwarded-Proto is passed on. */
  readonly trustedPeer: boolean;
}

/** RFC 9113 §6.5.2: each field counts its name, its value and 32 octets of overhead. */
const FIELD_OVERHEAD = 32;

/**
 * A request's header block size, counted as SETTINGS_MAX_HEADER_LIST_SIZE is: checked against
 * MAX_HEADER_SIZE, because nghttp2 enforces that setting itself only once the client has
 * acknowledged it (this covers the streams of the client's first flight; MAX_HEADER_COUNT needs no
 * such check: node:http2 applies maxHeaderListPairs to every stream), and counted in the bytes a
 * session holds.
 */
export function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) size += rawHeaders[i].length + rawHeaders[i + 1].length + FIELD_OVERHEAD;
  return size;
}

function connectionListed(headers: Record<string, HeaderValue>): Set<string> | null {
  const value = headers.connection;
  if (value === undefined) return null;
  const listed = new Set<string>();
  for (const item of (Array.isArray(value) ? value.join(',') : String(value)).split(',')) {
    const name = item.trim().toLowerCase();
    if (name !== '') listed.add(name);
  }
  return listed;
}

/**
 * Request headers for an HTTP/2 upstream, as a flat list (`[name, value, ...]`)
 * from the client's own list, which node:http2 takes as it is (an object would
 * be copied and walked again): pseudo-headers kept, hop-by-hop fields dropped
 * (`te: trailers`, the only TE HTTP/2 allows, is kept), the forwarded headers
 * set when asked. Repeated X-Forwarded-* fields are joined with `, `, as
 * node:http2 joins them into a headers object.
 */
export function h2RequestHeaderList(raw: readonly string[], forwarding: Forwarding | null): string[] {
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name === 'te') {
      if (value === 'trailers') out.push(name, value);
      continue;
    }
    if (HOP_BY_HOP.has(name)) continue;
    if (forwarding !== null) {
      if (name === 'x-forwarded-for') {
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      }
      if (name === 'x-forwarded-proto') {
        forwardedProto = forwardedProto === undefined ? value : `${forwardedProto}, ${value}`;
        continue;
      }
    }
    out.push(name, value);
  }
  if (forwarding !== null) {
    const { clientAddress, trustedPeer } = forwarding;
    out.push('x-forwarded-for', forwardedFor === undefined ? clientAddress : `${forwardedFor}, ${clientAddress}`);
    out.push('x-forwarded-proto', trustedPeer && forwardedProto !== undefined ? forwardedProto : 'http');
  }
  return out;
}

/**
 * Request headers for an HTTP/1.1 upstream: no pseudo-headers (`:authority`
 * becomes Host when there is none), no hop-by-hop fields.
 */
export function http1RequestHeaders(headers: IncomingHttpHeaders, forwarding: Forwarding | null): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 0x3a /* : */ || HOP_BY_HOP.has(name)) continue;
    out[name] = headers[name];
  }
  if (out.host === undefined && headers[':authority'] !== undefined) out.host = String(headers[':authority']);
  if (forwarding !== null) forwarded(out, forwarding);
  return out;
}

/** Response headers (or trailers) from an HTTP/1.1 upstream, fit for an HTTP/2 response. */
export function fromHttp1Response(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionListed(headers);
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/** Response headers (or trailers) from an HTTP/2 upstream: pseudo-headers kept, anything connection-specific dropped. */
export function fromH2Response(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (HOP_BY_HOP.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/** X-Forwarded-For appended to; X-Forwarded-Proto the peer's only when it is trusted, `http` otherwise. */
function forwarded(out: OutgoingHttpHeaders, { clientAddress, trustedPeer }: Forwarding): void {
  const before = out['x-forwarded-for'];
  out['x-forwarded-for'] = before === undefined ? clientAddress : `${Array.isArray(before) ? before.join(', ') : String(before)}, ${clientAddress}`;
  if (!trustedPeer || out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = 'http';
}
