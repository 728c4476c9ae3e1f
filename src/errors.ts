/**
 * Every way a message can be refused, in one registry: the HTTP status the
 * client gets and the stable code used in logs and as the metric label.
 */
import type { UpstreamErrorKind } from './metrics/index.ts';

export interface ProxyErrorSpec {
  readonly status: number;
  readonly message: string;
}

export const errors = {
  DP_BAD_REQUEST_LINE: { status: 400, message: 'malformed request line' },
  DP_BAD_METHOD: { status: 400, message: 'unknown request method' },
  DP_CONNECT_REFUSED: { status: 405, message: 'CONNECT is not served: this is a reverse proxy' },
  DP_BAD_VERSION: { status: 505, message: 'only HTTP/1.0 and HTTP/1.1 are served on this path' },
  DP_BAD_HEADER: { status: 400, message: 'malformed header line' },
  DP_OBS_FOLD: { status: 400, message: 'obsolete line folding is not accepted' },
  DP_MISSING_HOST: { status: 400, message: 'HTTP/1.1 request without exactly one Host header' },
  DP_AMBIGUOUS_LENGTH: { status: 400, message: 'both Content-Length and Transfer-Encoding' },
  DP_BAD_CONTENT_LENGTH: { status: 400, message: 'invalid or repeated Content-Length' },
  DP_BAD_TRANSFER_ENCODING: { status: 400, message: 'unsupported Transfer-Encoding' },
  DP_BAD_CHUNK: { status: 400, message: 'malformed chunked body' },
  DP_HEAD_TOO_LARGE: { status: 431, message: 'request header section too large' },
  DP_TOO_MANY_HEADERS: { status: 431, message: 'too many header lines' },
  DP_HEADER_TIMEOUT: { status: 408, message: 'request head not received in time' },
  DP_BODY_TIMEOUT: { status: 408, message: 'request body not received in time' },
  DP_UPSTREAM_CONNECT: { status: 502, message: 'upstream refused the connection' },
  DP_UPSTREAM_CONNECT_TIMEOUT: { status: 504, message: 'upstream did not accept the connection in time' },
  DP_UPSTREAM_RESET: { status: 502, message: 'upstream closed the connection before responding' },
  DP_UPSTREAM_RESPONSE_TIMEOUT: { status: 504, message: 'upstream did not begin its response in time' },
  DP_UPSTREAM_BAD_RESPONSE: { status: 502, message: 'upstream sent a malformed or ambiguous response' },
} as const satisfies Record<string, ProxyErrorSpec>;

export type ErrorCode = keyof typeof errors;

/** What a client is answered, on every protocol, when the app fails before a response began. */
export const UPSTREAM_FAILURE_ANSWERS: Readonly<Record<UpstreamErrorKind, ErrorCode>> = {
  connect_refused: 'DP_UPSTREAM_CONNECT',
  connect_timeout: 'DP_UPSTREAM_CONNECT_TIMEOUT',
  response_timeout: 'DP_UPSTREAM_RESPONSE_TIMEOUT',
  reset: 'DP_UPSTREAM_RESET',
  truncated: 'DP_UPSTREAM_RESET',
  bad_response: 'DP_UPSTREAM_BAD_RESPONSE',
};

export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, detail?: string) {
    const spec = errors[code];
    super(detail === undefined ? spec.message : `${spec.message}: ${detail}`);
    this.code = code;
    this.status = spec.status;
  }
}
