/**
 * What an HTTP/2 session keeps about its streams: each stream being forwarded
 * (`OpenStream`, for the bytes a session holds), and each one that arrived in
 * a read not yet processed (`ArrivedStream`), with what node:http2 emitted for
 * it meanwhile without buffering (its trailers).
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';

/** What an open stream holds besides its buffers (its objects on both sides), for the bytes a session holds. */
export const STREAM_OVERHEAD_BYTES = 4096;

/** A stream being forwarded: when it began, and the bytes of its header block. */
export class OpenStream {
  readonly startedAt: number;
  readonly headerBytes: number;

  constructor(startedAt: number, headerBytes: number) {
    this.startedAt = startedAt;
    this.headerBytes = headerBytes;
  }
}

/** A stream received and not forwarded yet: forwarded once the read that brought it has been processed. */
export class ArrivedStream {
  readonly stream: ServerHttp2Stream;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly headerBytes: number;

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[], headerBytes: number) {
    this.stream = stream;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
    this.headerBytes = headerBytes;
  }
}

/** A request's trailers as node:http2 passed them. */
export class ReceivedTrailers {
  readonly headers: IncomingHttpHeaders;
  readonly flags: number;
  readonly rawHeaders: string[];

  constructor(headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) {
    this.headers = headers;
    this.flags = flags;
    this.rawHeaders = rawHeaders;
  }
}

const kEarlyTrailers = Symbol('drain-proxy.h2.earlyTrailers');
type ArrivingStream = ServerHttp2Stream & { [kEarlyTrailers]?: ReceivedTrailers };

/**
 * Trailers that came in the read that brought their stream, before it is forwarded: 'trailers' is an event,
 * not buffered like the body, so they are kept on the stream and passed on once the forwarder listens
 * (`H2Connection`'s `#forward`).
 */
export function keepEarlyTrailers(this: ArrivingStream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]): void {
  this[kEarlyTrailers] = new ReceivedTrailers(headers, flags, rawHeaders);
}

/** The trailers `keepEarlyTrailers` kept for `stream`, if any. */
export function earlyTrailers(stream: ServerHttp2Stream): ReceivedTrailers | undefined {
  return (stream as ArrivingStream)[kEarlyTrailers];
}
