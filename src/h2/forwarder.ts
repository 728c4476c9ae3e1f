/**
 * What a client HTTP/2 stream is forwarded to: one interface, two upstream
 * protocols (`UPSTREAM_PROTOCOL`): `h2c` (stream to stream over shared
 * sessions, `upstream-h2c.ts`) and `http1` (each stream translated to an
 * HTTP/1.1 request on a keep-alive pool, `upstream-http1.ts`).
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { UpstreamAddress } from '../config/index.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics, UpstreamErrorKind } from '../metrics/index.ts';

export interface ForwarderContext {
  readonly upstream: UpstreamAddress;
  readonly connectTimeoutMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** A connection to the app failed: re-check its health now. */
  readonly upstreamFailed: () => void;
}

export interface StreamForwarder {
  /** Forwards one client stream; `clientAddress` is null when X-Forwarded-For is off. */
  forward(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, clientAddress: string | null): void;
  /** Closes idle upstream connections (the process is ending). */
  close(): void;
}

/** Answers a stream that never reached the app with a bodiless error status, or resets it if a response already started. */
export function failStream(stream: ServerHttp2Stream, status: number, ctx: ForwarderContext, kind: UpstreamErrorKind, err?: NodeJS.ErrnoException): void {
  ctx.metrics.upstreamError(kind);
  ctx.logger.warn({ kind, code: err?.code, protocol: 'h2' }, 'upstream request failed');
  if (kind === 'connect_refused' || kind === 'connect_timeout') ctx.upstreamFailed();
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent) {
    try {
      stream.respond({ ':status': status, 'content-length': 0 }, { endStream: true });
      return;
    } catch {
      // fall through to the reset
    }
  }
  stream.close(constants.NGHTTP2_INTERNAL_ERROR);
}
