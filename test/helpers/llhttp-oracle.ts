/**
 * A differential oracle: Node's own HTTP/1.1 parser (llhttp, through the
 * internal `HTTPParser` binding that `node:http` uses), driven exactly the way
 * Node's server and client drive it, so the framer can be compared with what
 * the app behind the proxy will make of the same bytes.
 *
 * Node's server and client initialize the parser with `kLenientNone` unless
 * `insecureHTTPParser` is set; so does this oracle. The response side answers
 * `kOnHeadersComplete` the way Node's client does: 1 (skip the body) for every
 * 1xx and for the response to a HEAD request. llhttp itself stops at a 101
 * response and, for a request, after an Upgrade request's body; the rest of the
 * stream is another protocol (`upgradeAt`).
 *
 * Fed one byte per `execute`, the oracle also knows exactly where each message
 * starts and ends (`start`/`end`); fed larger chunks, those are -1.
 */
import { createRequire } from 'node:module';

interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  execute(data: Buffer): number | NativeParseError;
  finish(): NativeParseError | null | undefined;
  close(): void;
  [callback: number]: unknown;
}

interface NativeParseError extends Error {
  code: string;
  reason: string;
  bytesParsed: number;
}

interface NativeParserClass {
  new (): NativeParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kLenientNone: number;
}

const requireInternal = createRequire(import.meta.url);
const { HTTPParser, methods } = requireInternal('_http_common') as {
  HTTPParser: NativeParserClass;
  methods: readonly string[];
};

/**
 * llhttp reports a request's method as its enum value, which is not an index
 * into `methods` (QUERY is 46 while `methods` has 35 entries): learn the
 * mapping by parsing one request per method.
 */
const METHOD_NAMES = new Map<number, string>();
for (const name of methods) {
  const probe = new HTTPParser();
  probe[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, _h: unknown, method: number): number => {
    METHOD_NAMES.set(method, name);
    return 0;
  };
  probe.initialize(HTTPParser.REQUEST, {}, 0, HTTPParser.kLenientNone);
  probe.execute(Buffer.from(`${name} / HTTP/1.1\r\nHost: a\r\n\r\n`, 'latin1'));
  probe.close();
}

/** What a request asked for, which decides how its response is framed. */
export type Asked = 'normal' | 'head' | 'upgrade';

export interface LlhttpMessage {
  /** Offset of the message's first byte in the stream, or -1 when not fed byte by byte. */
  start: number;
  /** Offset just past the message's last byte, or -1 when not fed byte by byte. */
  end: number;
  method: string;
  url: string;
  status: number;
  versionMajor: number;
  versionMinor: number;
  /** Flat name, value list, as Node gives it. */
  headers: string[];
  trailers: string[];
  /** The body after de-chunking. */
  body: Buffer;
  upgrade: boolean;
  keepAlive: boolean;
}

export interface LlhttpError {
  code: string;
  reason: string;
  /** Offset of the offending byte in the stream. */
  at: number;
}

export interface LlhttpResult {
  /** Complete messages, in order. */
  messages: LlhttpMessage[];
  /** Where each message began (complete or not); -1 entries when not fed byte by byte. */
  begins: number[];
  /** The parser refused the stream (from `execute`); null when it did not. */
  error: LlhttpError | null;
  /** The parser refused the end of the stream (a message cut short); null when EOF was clean or not signalled. */
  eofError: LlhttpError | null;
  /** Offset where another protocol starts (Upgrade / 101), or -1. */
  upgradeAt: number;
}

export interface LlhttpOptions {
  /** Responses only: what each request asked, in order, consumed by final responses. */
  asked?: readonly Asked[];
  /** Signal EOF after the last chunk (close-delimited bodies end there). Default true. */
  eof?: boolean;
}

/** Frames `chunks` (one stream, in order) the way Node's HTTP server (requests) or client (responses) would. */
export function llhttpParse(
  kind: 'request' | 'response',
  chunks: readonly Buffer[],
  options: LlhttpOptions = {},
): LlhttpResult {
  const asked = [...(options.asked ?? [])];
  const parser = new HTTPParser();
  const result: LlhttpResult = { messages: [], begins: [], error: null, eofError: null, upgradeAt: -1 };

  let chunkStart = 0;
  let chunkLength = 0;
  let current: LlhttpMessage | null = null;
  let headersDone = false;
  let pendingHeaders: string[] = [];
  let pendingUrl = '';
  let bodyParts: Buffer[] = [];
  let upgradeNow = false;
  let unexpected = -1;
  const exact = (): boolean => chunkLength === 1;

  parser[HTTPParser.kOnMessageBegin] = (): void => {
    current = {
      start: exact() ? chunkStart : -1,
      end: -1,
      method: '',
      url: '',
      status: 0,
      versionMajor: 0,
      versionMinor: 0,
      headers: [],
      trailers: [],
      body: Buffer.alloc(0),
      upgrade: false,
      keepAlive: false,
    };
    headersDone = false;
    pendingHeaders = [];
    pendingUrl = '';
    bodyParts = [];
    result.begins.push(current.start);
  };
  // Called when more than 32 header lines arrived before the head ended, and for trailers.
  parser[HTTPParser.kOnHeaders] = (headers: string[], url: string): void => {
    if (headersDone) {
      if (current !== null) current.trailers.push(...headers);
    } else {
      pendingHeaders.push(...headers);
      pendingUrl += url;
    }
  };
  parser[HTTPParser.kOnHeadersComplete] = (
    versionMajor: number,
    versionMinor: number,
    headers: string[] | undefined,
    method: number | undefined,
    url: string | undefined,
    statusCode: number | undefined,
    _statusMessage: string | undefined,
    upgrade: boolean,
    shouldKeepAlive: boolean,
  ): number => {
    const message = current;
    if (message === null) throw new Error('llhttp oracle: headers complete before message begin');
    headersDone = true;
    message.versionMajor = versionMajor;
    message.versionMinor = versionMinor;
    message.headers = headers === undefined ? pendingHeaders : [...pendingHeaders, ...headers];
    message.url = pendingUrl + (url ?? '');
    message.method = typeof method === 'number' ? (METHOD_NAMES.get(method) ?? `#${method}`) : '';
    message.status = statusCode ?? 0;
    message.upgrade = upgrade;
    message.keepAlive = shouldKeepAlive;
    if (kind === 'request') return 0;
    // Node's client: informational responses have no body and answer nothing yet.
    if (message.status >= 100 && message.status < 200 && asked.length > 0) return 1;
    const request = asked.shift();
    if (request === undefined) {
      if (unexpected < 0) unexpected = result.messages.length;
      return 0;
    }
    return request === 'head' ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = (bytes: Buffer): void => {
    bodyParts.push(Buffer.from(bytes));
  };
  parser[HTTPParser.kOnMessageComplete] = (): void => {
    const message = current;
    if (message === null) throw new Error('llhttp oracle: message complete before message begin');
    message.body = Buffer.concat(bodyParts);
    message.end = exact() ? chunkStart + 1 : -1;
    result.messages.push(message);
    current = null;
    // llhttp stops after an Upgrade request (after its body) and after any 101 response.
    if (kind === 'request' ? message.upgrade : message.status === 101) upgradeNow = true;
  };

  parser.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 0, HTTPParser.kLenientNone);
  try {
    let stopped = false;
    for (const chunk of chunks) {
      chunkLength = chunk.length;
      if (chunkLength === 0) continue;
      const ret = parser.execute(chunk);
      if (unexpected >= 0) {
        // A response nobody asked for: Node's client errors out at its head.
        const start = result.begins[unexpected] ?? -1;
        result.messages.length = unexpected;
        result.error = { code: 'ORACLE_UNEXPECTED_RESPONSE', reason: 'no request outstanding', at: start };
        stopped = true;
        break;
      }
      if (typeof ret !== 'number') {
        result.error = { code: ret.code, reason: ret.reason, at: chunkStart + ret.bytesParsed };
        stopped = true;
        break;
      }
      if (upgradeNow) {
        result.upgradeAt = chunkStart + ret;
        stopped = true;
        break;
      }
      chunkStart += chunkLength;
    }
    if (!stopped && options.eof !== false) {
      chunkLength = 0;
      const endStart = chunkStart;
      const messagesBefore = result.messages.length;
      const ret = parser.finish();
      // A close-delimited body ends at EOF.
      for (let i = messagesBefore; i < result.messages.length; i++) result.messages[i].end = endStart;
      if (ret instanceof Error) result.eofError = { code: ret.code, reason: ret.reason, at: endStart };
    }
  } finally {
    parser.close();
  }
  return result;
}

/** `llhttpParse` fed one byte per `execute`, so every message's start and end are exact. */
export function llhttpParseBytewise(
  kind: 'request' | 'response',
  input: Buffer,
  options: LlhttpOptions = {},
): LlhttpResult {
  const bytes: Buffer[] = [];
  for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
  return llhttpParse(kind, bytes, options);
}
