/**
 * Header sets crossing between HTTP/2 and the upstream. HTTP/2 forbids the
 * connection-specific (hop-by-hop) fields, and node:http2 throws
 * ERR_HTTP2_INVALID_CONNECTION_HEADERS when one is passed to it (nodejs
 * #23748), so they are stripped both ways, together with any field an
 * HTTP/1.1 `Connection` header names.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { readFields, type MessageHead } from '../http1/head.ts';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

/** What a session adds to its streams' requests; null when FORWARDED_HEADERS is off. Decided once per session. */
export interface Forwarding {
  readonly clientAddress: string;
  /** How the client reached the proxy: the X-Forwarded-Proto sent unless a trusted peer sent one. */
  readonly scheme: 'http' | 'https';
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
    const { clientAddress, scheme, trustedPeer } = forwarding;
    out.push('x-forwarded-for', forwardedFor === undefined ? clientAddress : `${forwardedFor}, ${clientAddress}`);
    out.push('x-forwarded-proto', trustedPeer && forwardedProto !== undefined ? forwardedProto : scheme);
  }
  return out;
}

/**
 * Whether the client stream waits for the app's trailers: when the client
 * said it takes them (`te: trailers`, as every gRPC client does), the
 * response announces some (a Trailer field) or is gRPC. Otherwise none are
 * passed on (RFC 9110 §6.5.1: a client that did not ask for trailers may be
 * sent a response without them), and END_STREAM goes with the last DATA
 * frame: waiting costs node:http2 a tick and an empty DATA frame per
 * stream, about 4 µs in a 120-byte exchange.
 */
export function forwardsTrailers(requestTe: string | string[] | undefined, trailerField: unknown, contentType: unknown): boolean {
  return requestTe === 'trailers' || trailerField !== undefined || (typeof contentType === 'string' && contentType.startsWith('application/grpc'));
}

/** The first value of `name` in a flat field list, or undefined. */
export function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** How an HTTP/1.1 request head frames the body that follows it. */
export const BODY_AS_SENT = 0; // the client's Content-Length, or no body and a method that needs none said
export const BODY_CHUNKED = 1; // a body of unknown length: Transfer-Encoding: chunked
export const BODY_EMPTY = 2; // no body, for a method whose requests usually have one: Content-Length: 0
export type RequestBodyFraming = typeof BODY_AS_SENT | typeof BODY_CHUNKED | typeof BODY_EMPTY;

/** Methods whose requests carry no body as a rule: an empty one needs no Content-Length (node:http sends none either). */
const BODILESS_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE']);

/** How the request head of a stream frames its body: `hasBody` is false when the client ended the stream with its headers. */
export function requestBodyFraming(method: string, hasBody: boolean, contentLength: string | undefined): RequestBodyFraming {
  if (contentLength !== undefined) return BODY_AS_SENT;
  if (hasBody) return BODY_CHUNKED;
  return BODILESS_METHODS.has(method) ? BODY_AS_SENT : BODY_EMPTY;
}

// What the HTTP/1.1 request line and field lines may hold, checked although nghttp2 validates HTTP/2 fields
// itself: a CR, LF or space that got through would split or end the head the app reads.
const TOKEN_BYTES = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const LOWER_TOKEN_BYTES = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** Visible ASCII, as the HTTP/1.1 path accepts in a request target. */
const TARGET_BYTES = /^[\x21-\x7e]+$/;
/** Field-value bytes: HTAB, SP, VCHAR, obs-text. */
const VALUE_BYTES = /^[\t\x20-\x7e\x80-\xff]*$/;

const FRAMING_LINES: Record<RequestBodyFraming, string> = {
  [BODY_AS_SENT]: '\r\n',
  [BODY_CHUNKED]: 'transfer-encoding: chunked\r\n\r\n',
  [BODY_EMPTY]: 'content-length: 0\r\n\r\n',
};

/**
 * An HTTP/2 request (its flat header list, as node:http2 gives it) as an
 * HTTP/1.1 request head, in latin1: the pseudo-headers become the request
 * line and Host (`:authority`, when there is no Host field), hop-by-hop
 * fields are dropped, cookie crumbs joined with `; ` (RFC 9113 §8.2.3), the
 * forwarded headers set when asked, and the body framing line added.
 * Undefined when a field cannot be written as HTTP/1.1.
 */
export function http1RequestHead(raw: readonly string[], forwarding: Forwarding | null, framing: RequestBodyFraming): string | undefined {
  let method = '';
  let path = '';
  let authority: string | undefined;
  let host = false;
  let fields = '';
  let cookie: string | undefined;
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name.charCodeAt(0) === 0x3a /* : */) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      continue;
    }
    if (!LOWER_TOKEN_BYTES.test(name) || !VALUE_BYTES.test(value)) return undefined;
    if (HOP_BY_HOP.has(name)) continue;
    switch (name) {
      case 'host':
        host = true;
        break;
      case 'cookie':
        cookie = cookie === undefined ? value : `${cookie}; ${value}`;
        continue;
      case 'x-forwarded-for':
        if (forwarding === null) break;
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      case 'x-forwarded-proto':
        if (forwarding === null) break;
        forwardedProto = forwardedProto === undefined ? value : `${forwardedProto}, ${value}`;
        continue;
    }
    fields += `${name}: ${value}\r\n`;
  }
  if (!TOKEN_BYTES.test(method) || !TARGET_BYTES.test(path)) return undefined;
  let head = `${method} ${path} HTTP/1.1\r\n`;
  if (!host && authority !== undefined) {
    if (!VALUE_BYTES.test(authority)) return undefined;
    head += `host: ${authority}\r\n`;
  }
  head += fields;
  if (cookie !== undefined) head += `cookie: ${cookie}\r\n`;
  if (forwarding !== null) {
    const { clientAddress, scheme, trustedPeer } = forwarding;
    head += `x-forwarded-for: ${forwardedFor === undefined ? clientAddress : `${forwardedFor}, ${clientAddress}`}\r\n`;
    head += `x-forwarded-proto: ${trustedPeer && forwardedProto !== undefined ? forwardedProto : scheme}\r\n`;
  }
  return head + FRAMING_LINES[framing];
}

/**
 * An HTTP/1.1 response head as an HTTP/2 header list (`:status` first): the
 * app's fields as they came, repeated ones included, less the hop-by-hop
 * ones and those its Connection header names.
 */
export function h2ResponseHeaders(head: MessageHead): string[] {
  const out = [':status', String(head.status)];
  head.readFields(out);
  // Only a head with a Connection or Keep-Alive line can name more fields to drop.
  return withoutHopByHop(out, 2, head.hopLines.length > 0);
}

/**
 * A chunked HTTP/1.1 body's trailer lines (as the framer gives them) as HTTP/2
 * trailers, an object (what `sendTrailers` takes): repeated fields as arrays.
 */
export function h2Trailers(section: Buffer): OutgoingHttpHeaders {
  const fields: string[] = [];
  readFields(section.toString('latin1'), 0, section.length, fields);
  withoutHopByHop(fields, 0, true);
  // No prototype: a field named `constructor` or `__proto__` is a field like any other.
  const out: OutgoingHttpHeaders = Object.create(null);
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    const before = out[name];
    out[name] = before === undefined ? fields[i + 1] : Array.isArray(before) ? [...before, fields[i + 1]] : [String(before), fields[i + 1]];
  }
  return out;
}

/** `fields` from `from` on, in place, without hop-by-hop fields; `mayList`: look for Connection fields naming more. */
function withoutHopByHop(fields: string[], from: number, mayList: boolean): string[] {
  let listed: Set<string> | null = null;
  if (mayList) {
    for (let i = from; i < fields.length; i += 2) {
      if (fields[i] !== 'connection') continue;
      listed ??= new Set();
      for (const item of fields[i + 1].split(',')) listed.add(item.trim().toLowerCase());
    }
  }
  let kept = from;
  for (let i = from; i < fields.length; i += 2) {
    const name = fields[i];
    if (HOP_BY_HOP.has(name) || listed?.has(name) === true) continue;
    fields[kept++] = name;
    fields[kept++] = fields[i + 1];
  }
  fields.length = kept;
  return fields;
}

/**
 * Response headers from an HTTP/2 upstream as the flat list they came in
 * (`:status` first), anything connection-specific dropped: the list itself
 * when there is nothing to drop, as there never is from a conforming app
 * (nghttp2 refuses those fields), so node:http2 takes it without a copy.
 */
export function h2ResponseHeaderList(raw: string[]): string[] {
  let i = 0;
  while (i < raw.length && !HOP_BY_HOP.has(raw[i])) i += 2;
  if (i >= raw.length) return raw;
  const out = raw.slice(0, i);
  for (; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i])) out.push(raw[i], raw[i + 1]);
  return out;
}

/** Response headers (or trailers) from an HTTP/2 upstream: pseudo-headers kept, anything connection-specific dropped. */
export function fromH2Response(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = Object.create(null);
  for (const name of Object.keys(headers)) {
    if (HOP_BY_HOP.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}
