/**
 * Request counts and durations, recorded on the request path into plain typed
 * arrays and turned into Prometheus families only when scraped. prom-client's
 * own Counter and Histogram hash their labels on every call; at tens of
 * thousands of requests a second that was a measurable share of the proxy's CPU.
 */
import type { Registry } from 'prom-client';
import { PROTOCOLS, type Protocol } from '../listeners/registry.ts';

const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

class ProtocolStats {
  readonly byClass = new Float64Array(CODE_CLASSES.length);
  /** Per bucket, not cumulative; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;
}

/** Per listener (its label), per protocol. */
type ListenerStats = ReadonlyMap<Protocol, ProtocolStats>;

export class RequestStats {
  readonly #listeners: ReadonlyMap<string, ListenerStats>;

  /** `listeners`: the labels of the public HTTP ports, a bounded set known at startup. */
  constructor(listeners: readonly string[]) {
    this.#listeners = new Map(listeners.map((listener) => [listener, new Map(PROTOCOLS.map((protocol) => [protocol, new ProtocolStats()]))]));
  }

  record(listener: string, protocol: Protocol, status: number, seconds: number): void {
    const stats = this.#listeners.get(listener)?.get(protocol);
    if (stats === undefined) return;
    const index = ((status / 100) | 0) - 1;
    stats.byClass[index < 0 || index > 4 ? 4 : index]++;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]) bucket++;
    stats.buckets[bucket]++;
    stats.sum += seconds;
    stats.count++;
  }

  /** Every (listener, protocol) pair with its stats, in a fixed order. */
  #series(): Array<{ listener: string; protocol: Protocol; stats: ProtocolStats }> {
    const series: Array<{ listener: string; protocol: Protocol; stats: ProtocolStats }> = [];
    for (const [listener, byProtocol] of this.#listeners) for (const [protocol, stats] of byProtocol) series.push({ listener, protocol, stats });
    return series;
  }

  register(registry: Registry): void {
    registry.registerMetric({
      name: 'drain_proxy_requests_total',
      help: 'Requests answered, by listener (port), protocol and status class',
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({
        name: 'drain_proxy_requests_total',
        help: 'Requests answered, by listener (port), protocol and status class',
        type: 'counter',
        aggregator: 'sum',
        values: this.#series().flatMap(({ listener, protocol, stats }) =>
          CODE_CLASSES.map((codeClass, i): Sample => ({ value: stats.byClass[i], labels: { listener, protocol, code_class: codeClass } })),
        ),
      }),
    } as never);
    const name = 'drain_proxy_request_duration_seconds';
    registry.registerMetric({
      name,
      help: 'Time from a request head to the end of its response',
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({
        name,
        help: 'Time from a request head to the end of its response',
        type: 'histogram',
        aggregator: 'sum',
        values: this.#series().flatMap(({ listener, protocol, stats }): Sample[] => {
          const { buckets, sum, count } = stats;
          const samples: Sample[] = [];
          let cumulative = 0;
          DURATION_BUCKETS.forEach((le, i) => {
            cumulative += buckets[i];
            samples.push({ metricName: `${name}_bucket`, value: cumulative, labels: { le, listener, protocol } });
          });
          samples.push({ metricName: `${name}_bucket`, value: count, labels: { le: '+Inf', listener, protocol } });
          samples.push({ metricName: `${name}_sum`, value: sum, labels: { listener, protocol } });
          samples.push({ metricName: `${name}_count`, value: count, labels: { listener, protocol } });
          return samples;
        }),
      }),
    } as never);
  }
}
