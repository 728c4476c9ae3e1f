/**
 * What a client HTTP/2 stream is forwarded to: one interface, two upstream
 * protocols (`UPSTREAM_PROTOCOL`): `h2c` (stream to stream over shared
 * sessions, `upstream-h2c.ts`) and `http1` (each stream translated to an
 * HTTP/1.1 request on a keep-alive pool, `upstream-http1.ts`).
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { addAbortSignal } from 'node:stream';
import type { UpstreamAddress } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics, UpstreamErrorKind } from '../metrics/index.ts';
import type { Forwarding } from './headers.ts';
import { UPSTREAM_FAILURE_ANSWERS, errors } from '../errors.ts';

/** Where a stream's failure is counted and logged. */
export interface FailureContext {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** A connection to the app failed: re-check its health now. */
  readonly upstreamFailed?: () => void;
}

export interface ForwarderContext extends FailureContext {
  readonly upstream: UpstreamAddress;
  readonly connectTimeoutMs: number;
  readonly upstreamFailed: () => void;
}

export interface StreamForwarder {
  /**
   * Forwards one client stream: its headers as an object and as the flat list they came in (`rawHeaders`);
   * `forwarding` is null when FORWARDED_HEADERS is off. Closing the client stream (for whatever reason: a reset,
   * a timeout) cancels the app's side. The stream already has an 'error' listener (its close says the outcome).
   */
  forward(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[], forwarding: Forwarding | null): void;
  /** Closes idle upstream connections (the process is ending). */
  close(): void;
}

const kResetByProxy = Symbol('drain-proxy.h2.resetByProxy');

/** The stream was closed by a reset, and not by `resetStream`: the client reset it (or nghttp2, for the client's fault). */
export function resetByClient(stream: ServerHttp2Stream): boolean {
  const code = stream.rstCode;
  return code !== undefined && code !== constants.NGHTTP2_NO_ERROR && (stream as ServerHttp2Stream & { [kResetByProxy]?: true })[kResetByProxy] !== true;
}

/**
 * Answers a stream whose exchange with the app failed before a response began with a bodiless error status (the
 * one src/errors.ts gives the failure), or resets it if a response already started.
 */
export function failStream(stream: ServerHttp2Stream, kind: UpstreamErrorKind, ctx: FailureContext, err?: NodeJS.ErrnoException): void {
  const status = errors[UPSTREAM_FAILURE_ANSWERS[kind]].status;
  ctx.metrics.upstreamError(kind);
  ctx.logger.warn({ kind, code: err?.code, protocol: 'h2' }, 'upstream request failed');
  if (kind === 'connect_refused' || kind === 'connect_timeout') ctx.upstreamFailed?.();
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent) {
    try {
      stream.respond({ ':status': status, 'content-length': 0 }, { endStream: true });
      return;
    } catch {
      // fall through to the reset
    }
  }
  resetStream(stream, constants.NGHTTP2_INTERNAL_ERROR);
}

/**
 * Resets a client stream: RST_STREAM(`code`), and never an END_STREAM before
 * it once a response has begun. node:http2's `close(code)` ends the writable
 * side first and flushes that END_STREAM ahead of its RST_STREAM: a response
 * without Content-Length (or waiting for no trailers) would look complete to
 * the client. Such a stream is destroyed instead, which sends the RST_STREAM
 * alone, with CANCEL for CANCEL and INTERNAL_ERROR for any other code (the
 * only ones node:http2 sends that way). `exact`: the stream waits for
 * trailers, which hold its END_STREAM back, so `close` carries the code as it is.
 * The reset is marked as the proxy's own doing: the session's count of streams
 * reset by the client (STREAM_RESET_BURST, STREAM_RESET_RATE) must not include it.
 */
export function resetStream(stream: ServerHttp2Stream, code: number, exact = false): void {
  if (stream.destroyed || stream.closed) return;
  (stream as ServerHttp2Stream & { [kResetByProxy]?: true })[kResetByProxy] = true;
  if (exact || !stream.headersSent || stream.writableEnded) {
    stream.close(code);
  } else if (code === constants.NGHTTP2_CANCEL) {
    addAbortSignal(AbortSignal.abort(), stream); // destroyed with an AbortError: RST_STREAM(CANCEL)
  } else {
    stream.destroy(new Error('upstream response cut short'));
  }
}

/**
 * UPSTREAM_RESPONSE_TIMEOUT passed with no response head from the app: the
 * client gets `:status 504` and the stream is closed (RST_STREAM NO_ERROR
 * after the complete answer, so a client still sending a body stops), which
 * makes the forwarder cancel the app's side.
 */
export function timeOutStream(stream: ServerHttp2Stream, ctx: FailureContext): void {
  failStream(stream, 'response_timeout', ctx);
  if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
}
