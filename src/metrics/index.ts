/**
 * The Prometheus families drain-proxy exports. Names and labels are part of the
 * public contract (dashboards, alerts and the HPA rely on them); label values
 * are bounded sets. Nothing on the request path touches prom-client: gauges
 * that mirror live state read it at scrape time, and per-request counts and
 * durations go through `RequestStats`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from './prom.ts';
import { RequestStats } from './request-stats.ts';
import type { WebSocketObserver } from '../websocket/tunnel.ts';
import { CLOSE_REASONS, PROTOCOLS, type CloseReason, type ConnectionRegistry, type Protocol } from '../listeners/registry.ts';
import { PHASES, type DrainSummary, type Phase } from '../drain/controller.ts';
import { errors, type ErrorCode } from '../errors.ts';
import { REFUSED_REASONS, type RefusedReason } from '../listeners/connection-limit.ts';

export const UPSTREAM_ERROR_KINDS = ['connect_refused', 'connect_timeout', 'response_timeout', 'reset', 'bad_response', 'truncated'] as const;
export type UpstreamErrorKind = (typeof UPSTREAM_ERROR_KINDS)[number];

/** Codes a client's request can be refused with (the DP_UPSTREAM_* codes are the app's failures, counted as upstream errors). */
const REQUEST_ERROR_CODES = (Object.keys(errors) as ErrorCode[]).filter((code) => !code.startsWith('DP_UPSTREAM_'));

export { REFUSED_REASONS, type RefusedReason } from '../listeners/connection-limit.ts';

/** How a drain ended: every connection gone (exit code 0), or some cut at the deadline (exit code 3). */
export const DRAIN_OUTCOMES = ['completed', 'deadline'] as const;
export type DrainOutcome = (typeof DRAIN_OUTCOMES)[number];

/** prom-client's sums of `nodejs_active_*` by type: gauges named like counters (`_total`), and redundant with `sum()`. */
const DROPPED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Limits enforced on a client connection, each counted once per connection (and logged once, at warn). */
export const LIMIT_REASONS = [
  'h2_concurrent_streams', // the session reached MAX_CONCURRENT_STREAMS: streams beyond it were refused
  'h2_stream_resets', // the session reset streams beyond STREAM_RESET_BURST / STREAM_RESET_RATE: closed
  'h2_invalid_frames', // more invalid frames than node:http2 tolerates (empty DATA frames included): closed
  'h2_ack_flood', // SETTINGS or PING frames sent while their ACKs went unread (nghttp2): closed
  'h2_continuation_flood', // a header block split over too many CONTINUATION frames (nghttp2): closed
  'h2_rejected_streams', // streams refused one after another for the session's memory (node:http2): closed
  'memory_shed', // closed by the memory guard, one of the connections holding the most buffered bytes
] as const;
export type LimitReason = (typeof LIMIT_REASONS)[number];

export interface LiveState {
  readonly ready: () => boolean;
  readonly phase: () => Phase;
  readonly connections: ConnectionRegistry;
  /** The memory guard is refusing connections (resident memory above its high mark, not yet below the low one). */
  readonly memoryPressure: () => boolean;
  /** The public HTTP ports' labels, for the request families' `listener` label. */
  readonly listeners: readonly string[];
}

export class Metrics implements WebSocketObserver {
  readonly registry = new Registry();
  readonly #requests: RequestStats;
  readonly #closed: Counter<'protocol' | 'reason'>;
  readonly #upstreamErrors: Counter<'kind'>;
  readonly #refused: Counter<'reason'>;
  readonly #badRequests: Counter<'code'>;
  readonly #limits: Counter<'reason'>;
  readonly #drainDenied: Counter;
  readonly #drainDuration: Gauge;
  readonly #drains: Counter<'outcome'>;
  readonly #closeHandshake: Histogram;
  readonly #closeTimeouts: Counter;

  constructor(state: LiveState) {
    const registry = this.registry;
    this.#requests = new RequestStats(state.listeners);
    collectDefaultMetrics(registry);
    for (const name of DROPPED_DEFAULTS) registry.removeSingleMetric(name);
    const { connections } = state;

    new Gauge({
      name: 'drain_proxy_ready', help: '1 when the upstream is healthy and no drain has started', registers: [registry],
      collect() { this.set(state.ready() ? 1 : 0); },
    });
    new Gauge({
      name: 'drain_proxy_draining', help: '1 once a drain has started', registers: [registry],
      collect() { this.set(state.phase() === 'serving' ? 0 : 1); },
    });
    new Gauge({
      name: 'drain_proxy_drain_phase', help: 'Current drain phase (1 for the current one)', labelNames: ['phase'], registers: [registry],
      collect() { for (const phase of PHASES) this.set({ phase }, state.phase() === phase ? 1 : 0); },
    });
    new Gauge({
      name: 'drain_proxy_connections_active', help: 'Open client connections', labelNames: ['protocol'], registers: [registry],
      collect() { for (const protocol of PROTOCOLS) this.set({ protocol }, connections.active[protocol]); },
    });
    new Gauge({
      name: 'drain_proxy_buffered_bytes', help: 'Bytes held in the proxy for the open connections (socket buffers, held requests, HTTP/2 streams)', labelNames: ['protocol'], registers: [registry],
      collect() {
        const bytes = connections.bufferedBytes();
        for (const protocol of PROTOCOLS) this.set({ protocol }, bytes[protocol]);
      },
    });
    new Gauge({
      name: 'drain_proxy_memory_pressure', help: '1 while the memory guard refuses new connections (resident memory above 90% of MEMORY_LIMIT, until below 80%)', registers: [registry],
      collect() { this.set(state.memoryPressure() ? 1 : 0); },
    });
    new Gauge({
      name: 'drain_proxy_requests_in_flight', help: 'Requests received and not yet answered in full', labelNames: ['protocol'], registers: [registry],
      collect() { for (const protocol of PROTOCOLS) this.set({ protocol }, connections.inFlight[protocol]); },
    });
    this.#requests.register(registry);
    this.#closed = new Counter({
      name: 'drain_proxy_connections_closed_total', help: 'Client connections closed, by who or what closed them', labelNames: ['protocol', 'reason'], registers: [registry],
    });
    // Every series exists from the start, at 0, so that rate() and alerts see the first increment.
    // (`inc(labels, 0)`: `labels()` alone creates no series in prom-client.)
    for (const protocol of PROTOCOLS) for (const reason of CLOSE_REASONS) this.#closed.inc({ protocol, reason }, 0);
    this.#upstreamErrors = new Counter({
      name: 'drain_proxy_upstream_errors_total', help: 'Failures talking to the app', labelNames: ['kind'], registers: [registry],
    });
    for (const kind of UPSTREAM_ERROR_KINDS) this.#upstreamErrors.inc({ kind }, 0);
    this.#refused = new Counter({
      name: 'drain_proxy_connections_refused_total', help: 'Client connections closed on their way in, before any request was read: limits, and on PROXY_PROTOCOL or TLS ports a missing header or a failed handshake', labelNames: ['reason'], registers: [registry],
    });
    for (const reason of REFUSED_REASONS) this.#refused.inc({ reason }, 0);
    this.#badRequests = new Counter({
      name: 'drain_proxy_rejected_requests_total', help: 'Requests refused by the proxy, by error code (before reaching the app, except DP_BODY_TIMEOUT)', labelNames: ['code'], registers: [registry],
    });
    for (const code of REQUEST_ERROR_CODES) this.#badRequests.inc({ code }, 0);
    this.#limits = new Counter({
      name: 'drain_proxy_limits_enforced_total', help: 'Client connections on which a limit was enforced, once per connection and limit', labelNames: ['reason'], registers: [registry],
    });
    for (const reason of LIMIT_REASONS) this.#limits.inc({ reason }, 0);
    this.#drainDenied = new Counter({
      name: 'drain_proxy_drain_denied_total', help: '/drain calls refused (not loopback, HOST_IP or a valid token)', registers: [registry],
    });
    this.#closeHandshake = new Histogram({
      name: 'drain_proxy_websocket_close_handshake_seconds', help: 'From the close frame sent at drain to the end of the closing handshake',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
    });
    this.#closeTimeouts = new Counter({
      name: 'drain_proxy_websocket_close_timeouts_total', help: 'WebSockets whose closing handshake did not complete within WS_CLOSE_TIMEOUT', registers: [registry],
    });
    this.#drainDuration = new Gauge({
      name: 'drain_proxy_drain_duration_seconds', help: 'Duration of the last drain, set when it ends', registers: [registry],
    });
    this.#drains = new Counter({
      name: 'drain_proxy_drains_total', help: 'Drains ended, by outcome: completed (exit code 0) or deadline (connections cut, exit code 3)', labelNames: ['outcome'], registers: [registry],
    });
    for (const outcome of DRAIN_OUTCOMES) this.#drains.inc({ outcome }, 0);
  }

  requestCompleted(listener: string, protocol: Protocol, status: number, seconds: number): void {
    this.#requests.record(listener, protocol, status, seconds);
  }

  connectionClosed(protocol: Protocol, reason: CloseReason): void {
    this.#closed.inc({ protocol, reason });
  }

  upstreamError(kind: UpstreamErrorKind): void {
    this.#upstreamErrors.inc({ kind });
  }

  connectionRefused(reason: RefusedReason): void {
    this.#refused.inc({ reason });
  }

  requestRejected(code: ErrorCode): void {
    this.#badRequests.inc({ code: code in errors ? code : 'unknown' });
  }

  limitEnforced(reason: LimitReason): void {
    this.#limits.inc({ reason });
  }

  drainDenied(): void {
    this.#drainDenied.inc();
  }

  closeHandshakeCompleted(seconds: number): void {
    this.#closeHandshake.observe(seconds);
  }

  closeHandshakeTimedOut(): void {
    this.#closeTimeouts.inc();
  }

  drainEnded(summary: DrainSummary): void {
    this.#drainDuration.set(summary.durationMs / 1000);
    this.#drains.inc({ outcome: summary.cut > 0 ? 'deadline' : 'completed' });
  }
}
