/**
 * One HTTP/1.1 message head: the facts the framer learns while it validates the
 * head line by line. Positions are offsets from the head's first byte, so a
 * rewrite (`head-rewrite.ts`) copies head bytes once and never re-parses.
 */
import { http } from '../builtins.ts';
import type { ErrorCode } from '../errors.ts';

export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
export const BODY_UNTIL_CLOSE = 3;
export type BodyKind = typeof BODY_NONE | typeof BODY_LENGTH | typeof BODY_CHUNKED | typeof BODY_UNTIL_CLOSE;

const SP = 32;
const HTAB = 9;
const COLON = 58;

/** RFC 9110 tchar. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TOKEN[c] = 1;
for (let c = 65; c <= 90; c++) TOKEN[c] = 1;
for (let c = 97; c <= 122; c++) TOKEN[c] = 1;

/** field-vchar, SP and HTAB: what may stand in a header value. */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[HTAB] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

/** Request-target bytes: visible ASCII only. */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;

/** Bytes of an absolute-form target's authority that llhttp accepts. */
const AUTHORITY = new Uint8Array(256);
for (const c of "!$%&'()*+,-.:;=@[]_~") AUTHORITY[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) AUTHORITY[c] = 1;
for (let c = 65; c <= 90; c++) AUTHORITY[c] = 1;
for (let c = 97; c <= 122; c++) AUTHORITY[c] = 1;

/**
 * Origin-form (`/...`), asterisk-form (`*...`) or absolute-form
 * (`scheme://authority[/...|?...]`, at most one `@`): the target shapes llhttp
 * accepts (RFC 9112 §3.2), so the app never refuses a target the proxy passed.
 */
function validTarget(buf: Buffer, start: number, end: number): boolean {
  if (buf[start] === 0x2f || buf[start] === 0x2a) return true;
  let i = start;
  while (i < end && ((buf[i] | 0x20) >= 0x61 && (buf[i] | 0x20) <= 0x7a)) i++;
  if (i === start || end - i < 3 || buf[i] !== COLON || buf[i + 1] !== 0x2f || buf[i + 2] !== 0x2f) return false;
  let at = 0;
  for (i += 3; i < end && buf[i] !== 0x2f && buf[i] !== 0x3f; i++) {
    if (AUTHORITY[buf[i]] !== 1 || (buf[i] === 0x40 && ++at > 1)) return false;
  }
  return true;
}

/** The methods llhttp (Node's parser, which the app behind us most likely uses) accepts. */
const KNOWN_METHODS = new Set(http.METHODS);
/** The everyday methods, recognised from their bytes without making a string per request. */
const COMMON_METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS'].map((name) => ({
  name,
  bytes: Buffer.from(name, 'latin1'),
}));

function methodName(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  outer: for (const { name, bytes } of COMMON_METHODS) {
    if (bytes.length !== length) continue;
    for (let i = 0; i < length; i++) if (buf[start + i] !== bytes[i]) continue outer;
    return name;
  }
  return buf.toString('latin1', start, end);
}

// Header names the framer acts on, identified by length first, then compared case-insensitively.
const H_CONTENT_LENGTH = 1;
const H_TRANSFER_ENCODING = 2;
const H_CONNECTION = 3;
const H_KEEP_ALIVE = 4;
const H_HOST = 5;
const H_UPGRADE = 6;
const H_X_FORWARDED_FOR = 7;
const H_X_FORWARDED_PROTO = 8;
const H_CONTENT_TYPE = 9;
const NAMES: ReadonlyArray<readonly [string, number]> = [
  ['content-length', H_CONTENT_LENGTH],
  ['transfer-encoding', H_TRANSFER_ENCODING],
  ['connection', H_CONNECTION],
  ['keep-alive', H_KEEP_ALIVE],
  ['host', H_HOST],
  ['upgrade', H_UPGRADE],
  ['x-forwarded-for', H_X_FORWARDED_FOR],
  ['x-forwarded-proto', H_X_FORWARDED_PROTO],
  ['content-type', H_CONTENT_TYPE],
];
const NAMES_BY_LENGTH: Array<Array<readonly [Buffer, number]>> = [];
for (const [name, id] of NAMES) (NAMES_BY_LENGTH[name.length] ??= []).push([Buffer.from(name, 'latin1'), id]);

function headerId(buf: Buffer, start: number, end: number): number {
  const candidates = NAMES_BY_LENGTH[end - start];
  if (candidates === undefined) return 0;
  outer: for (const [name, id] of candidates) {
    for (let i = 0; i < name.length; i++) {
      if ((buf[start + i] | 0x20) !== name[i]) continue outer;
    }
    return id;
  }
  return 0;
}

function startsWithIgnoreCase(buf: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start < lower.length) return false;
  const next = buf[start + lower.length];
  return equalsIgnoreCase(buf, start, start + lower.length, lower) && (end - start === lower.length || next === 0x3b || next === SP);
}

function equalsIgnoreCase(buf: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    if ((buf[start + i] | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

export class MessageHead {
  /** The buffer the head was read from, and where in it the head lies. */
  source: Buffer = EMPTY;
  start = 0;
  end = 0;
  #bytes: Buffer | null = null;
  isRequest = true;
  method = '';
  status = 0;
  versionMinor = 1;
  keepAlive = true;
  /** Request: asks to switch protocols. Response: 101. */
  upgrade = false;
  /** Request: the Upgrade header's value, lower-cased ('websocket'). */
  upgradeProtocol = '';
  body: BodyKind = BODY_NONE;
  contentLength = 0;
  /** [start, end) of each Connection and Keep-Alive line, CRLF included. */
  hopLines: number[] = [];
  /** Offset just past the last X-Forwarded-For value, or -1. */
  forwardedForEnd = -1;
  /** [start, end) of each X-Forwarded-Proto line, CRLF included; null when there is none (most requests). */
  forwardedProtoLines: number[] | null = null;
  /** Content-Type is text/event-stream (server-sent events). */
  eventStream = false;

  get hasForwardedProto(): boolean {
    return this.forwardedProtoLines !== null;
  }

  /** The head as received, request or status line to the final CRLF CRLF included. Made only when asked for. */
  get bytes(): Buffer {
    return (this.#bytes ??= this.source.subarray(this.start, this.end));
  }

  /** Appends the head's fields to `out` as `readFields` gives them (for a message translated to HTTP/2). */
  readFields(out: string[]): void {
    const text = this.source.toString('latin1', this.start, this.end);
    readFields(text, text.indexOf('\n') + 1, text.length - 2, out);
  }
}

/**
 * The fields of validated field lines (`name: value` CRLF each, as the framer
 * accepted them), appended to `out` as name, value, name, value...: names
 * lower-cased, values without the whitespace around them, both latin1 (as
 * node:http and node:http2 read and write header bytes). [from, to) of `text`
 * covers whole lines.
 */
export function readFields(text: string, from: number, to: number, out: string[]): void {
  let pos = from;
  while (pos < to) {
    const colon = text.indexOf(':', pos);
    const eol = text.indexOf('\r', colon);
    let valueStart = colon + 1;
    let valueEnd = eol;
    while (valueStart < valueEnd && isWhitespace(text.charCodeAt(valueStart))) valueStart++;
    while (valueEnd > valueStart && isWhitespace(text.charCodeAt(valueEnd - 1))) valueEnd--;
    out.push(text.slice(pos, colon).toLowerCase(), text.slice(valueStart, valueEnd));
    pos = eol + 2;
  }
}

function isWhitespace(c: number): boolean {
  return c === SP || c === HTAB;
}

const EMPTY = Buffer.alloc(0);

/**
 * Collects what the head's lines say while the framer finds them. Each method
 * takes a line without its CRLF, as [start, end) of `buf` where `base` is the
 * head's first byte, and returns an error code or undefined. The framer has
 * already checked that every byte of the line is a field-value byte.
 */
export class HeadReader {
  head = new MessageHead();
  #isRequest: boolean;
  #lines = 0;
  #contentLengths = 0;
  #transferEncodings = 0;
  #chunked = false;
  #hosts = 0;
  #connectionClose = false;
  #connectionKeepAlive = false;
  #connectionUpgrade = false;
  #hasUpgrade = false;

  constructor(isRequest: boolean) {
    this.#isRequest = isRequest;
  }

  get lines(): number {
    return this.#lines;
  }

  reset(): void {
    this.head = new MessageHead();
    this.head.isRequest = this.#isRequest;
    this.#lines = 0;
    this.#contentLengths = 0;
    this.#transferEncodings = 0;
    this.#chunked = false;
    this.#hosts = 0;
    this.#connectionClose = false;
    this.#connectionKeepAlive = false;
    this.#connectionUpgrade = false;
    this.#hasUpgrade = false;
  }

  line(buf: Buffer, base: number, start: number, end: number): ErrorCode | undefined {
    const first = this.#lines++ === 0;
    if (first) return this.#isRequest ? this.#requestLine(buf, start, end) : this.#statusLine(buf, start, end);
    return this.#headerLine(buf, base, start, end);
  }

  // method SP request-target SP HTTP/1.x
  #requestLine(buf: Buffer, start: number, end: number): ErrorCode | undefined {
    let i = start;
    while (i < end && TOKEN[buf[i]] === 1) i++;
    if (i === start || i >= end || buf[i] !== SP) return 'DP_BAD_REQUEST_LINE';
    const method = methodName(buf, start, i);
    const targetStart = ++i;
    while (i < end && TARGET[buf[i]] === 1) i++;
    if (i === targetStart || i >= end || buf[i] !== SP) return 'DP_BAD_REQUEST_LINE';
    const versionError = this.#version(buf, i + 1, end);
    if (versionError !== undefined) return versionError;
    if (!KNOWN_METHODS.has(method)) return 'DP_BAD_METHOD';
    if (method === 'CONNECT') return 'DP_CONNECT_REFUSED';
    if (!validTarget(buf, targetStart, i)) return 'DP_BAD_REQUEST_LINE';
    this.head.method = method;
    return undefined;
  }

  // HTTP/1.x SP 3DIGIT [SP reason-phrase]
  #statusLine(buf: Buffer, start: number, end: number): ErrorCode | undefined {
    if (end - start < 12 || this.#version(buf, start, start + 8) !== undefined || buf[start + 8] !== SP) {
      return 'DP_BAD_REQUEST_LINE';
    }
    let status = 0;
    for (let i = start + 9; i < start + 12; i++) {
      const digit = buf[i] - 48;
      if (digit < 0 || digit > 9) return 'DP_BAD_REQUEST_LINE';
      status = status * 10 + digit;
    }
    if (status < 100) return 'DP_BAD_REQUEST_LINE';
    if (end > start + 12 && buf[start + 12] !== SP) return 'DP_BAD_REQUEST_LINE';
    this.head.status = status;
    return undefined;
  }

  #version(buf: Buffer, start: number, end: number): ErrorCode | undefined {
    if (
      end - start !== 8 || buf[start] !== 0x48 || buf[start + 1] !== 0x54 || buf[start + 2] !== 0x54 ||
      buf[start + 3] !== 0x50 || buf[start + 4] !== 0x2f || buf[start + 6] !== 0x2e
    ) {
      return 'DP_BAD_REQUEST_LINE';
    }
    const major = buf[start + 5] - 48;
    const minor = buf[start + 7] - 48;
    if (major < 0 || major > 9 || minor < 0 || minor > 9) return 'DP_BAD_REQUEST_LINE';
    if (major !== 1 || minor > 1) return 'DP_BAD_VERSION';
    this.head.versionMinor = minor;
    return undefined;
  }

  #headerLine(buf: Buffer, base: number, start: number, end: number): ErrorCode | undefined {
    const head = this.head;
    const c = buf[start];
    if (c === SP || c === HTAB) return 'DP_OBS_FOLD';
    let i = start;
    while (i < end && TOKEN[buf[i]] === 1) i++;
    if (i === start || i >= end || buf[i] !== COLON) return 'DP_BAD_HEADER';
    const nameEnd = i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    let valueEnd = end;
    while (valueEnd > i && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    const valueStart = i;

    switch (headerId(buf, start, nameEnd)) {
      case H_CONTENT_LENGTH: {
        this.#contentLengths++;
        const digits = valueEnd - valueStart;
        if (digits === 0 || digits > 15) return 'DP_BAD_CONTENT_LENGTH';
        let length = 0;
        for (let j = valueStart; j < valueEnd; j++) {
          const digit = buf[j] - 48;
          if (digit < 0 || digit > 9) return 'DP_BAD_CONTENT_LENGTH';
          length = length * 10 + digit;
        }
        head.contentLength = length;
        break;
      }
      case H_TRANSFER_ENCODING:
        this.#transferEncodings++;
        this.#chunked = equalsIgnoreCase(buf, valueStart, valueEnd, 'chunked');
        // llhttp takes `chunked` followed by a tab as some other coding (and a response as close-delimited).
        for (let j = valueEnd; j < end; j++) if (buf[j] === HTAB) this.#chunked = false;
        break;
      case H_CONNECTION:
        head.hopLines.push(start - base, end + 2 - base);
        this.#connectionTokens(buf, valueStart, valueEnd);
        break;
      case H_KEEP_ALIVE:
        head.hopLines.push(start - base, end + 2 - base);
        break;
      case H_HOST:
        this.#hosts++;
        break;
      case H_UPGRADE:
        this.#hasUpgrade = true;
        head.upgradeProtocol = buf.toString('latin1', valueStart, valueEnd).toLowerCase();
        break;
      case H_X_FORWARDED_FOR:
        head.forwardedForEnd = valueEnd - base;
        break;
      case H_CONTENT_TYPE:
        head.eventStream = startsWithIgnoreCase(buf, valueStart, valueEnd, 'text/event-stream');
        break;
      case H_X_FORWARDED_PROTO:
        (head.forwardedProtoLines ??= []).push(start - base, end + 2 - base);
        break;
    }
    return undefined;
  }

  #connectionTokens(buf: Buffer, start: number, end: number): void {
    let i = start;
    while (i < end) {
      while (i < end && (buf[i] === SP || buf[i] === HTAB || buf[i] === 0x2c)) i++;
      const tokenStart = i;
      while (i < end && buf[i] !== 0x2c) i++;
      let tokenEnd = i;
      while (tokenEnd > tokenStart && (buf[tokenEnd - 1] === SP || buf[tokenEnd - 1] === HTAB)) tokenEnd--;
      if (equalsIgnoreCase(buf, tokenStart, tokenEnd, 'close')) this.#connectionClose = true;
      else if (equalsIgnoreCase(buf, tokenStart, tokenEnd, 'keep-alive')) this.#connectionKeepAlive = true;
      else if (equalsIgnoreCase(buf, tokenStart, tokenEnd, 'upgrade')) this.#connectionUpgrade = true;
    }
  }

  /**
   * The head is complete: decide how its body is delimited (RFC 9112 §6) and
   * whether the connection persists. `bodyless` is set for responses to HEAD.
   */
  finish(source: Buffer, start: number, end: number, bodyless: boolean): ErrorCode | undefined {
    const head = this.head;
    head.source = source;
    head.start = start;
    head.end = end;
    head.keepAlive = head.versionMinor === 1 ? !this.#connectionClose : this.#connectionKeepAlive && !this.#connectionClose;
    if (this.#transferEncodings > 0 && this.#contentLengths > 0) return 'DP_AMBIGUOUS_LENGTH';
    if (this.#contentLengths > 1) return 'DP_BAD_CONTENT_LENGTH';
    if (this.#transferEncodings > 1 || (this.#transferEncodings === 1 && !this.#chunked)) {
      return 'DP_BAD_TRANSFER_ENCODING';
    }
    if (this.#isRequest) {
      if (this.#transferEncodings === 1 && head.versionMinor === 0) return 'DP_BAD_TRANSFER_ENCODING';
      if (this.#hosts > 1 || (this.#hosts === 0 && head.versionMinor === 1)) return 'DP_MISSING_HOST';
      head.upgrade = this.#hasUpgrade && this.#connectionUpgrade;
      head.body = this.#chunked ? BODY_CHUNKED : this.#contentLengths === 1 && head.contentLength > 0 ? BODY_LENGTH : BODY_NONE;
      return undefined;
    }
    const status = head.status;
    head.upgrade = status === 101;
    if (bodyless || status < 200 || status === 204 || status === 304) {
      head.body = BODY_NONE;
    } else if (this.#chunked) {
      head.body = BODY_CHUNKED;
    } else if (this.#contentLengths === 1) {
      head.body = head.contentLength > 0 ? BODY_LENGTH : BODY_NONE;
    } else {
      head.body = BODY_UNTIL_CLOSE;
      head.keepAlive = false;
    }
    return undefined;
  }
}
