/**
 * The parts of prom-client the proxy uses, required one by one from the
 * package's `lib/`. Its index also loads the push gateway (node:http's ESM
 * namespace, node:https, node:tls), the cluster aggregator (node:cluster) and,
 * through the process CPU counters' exemplars, @opentelemetry/api: about 7 MB
 * of private memory in every pod for nothing the proxy uses. The default
 * metrics are prom-client's own modules but the process CPU counters, which
 * `processCpu` makes as prom-client does, without exemplars.
 * test/metrics/prom.test.ts holds this to prom-client's own
 * `collectDefaultMetrics()`, so a release that moves or adds a file fails it.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry: typeof PromClient.Registry = require('prom-client/lib/registry');
export type Registry = PromClient.Registry;
export const Counter: typeof PromClient.Counter = require('prom-client/lib/counter');
export type Counter<T extends string = string> = PromClient.Counter<T>;
export const Gauge: typeof PromClient.Gauge = require('prom-client/lib/gauge');
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export const Histogram: typeof PromClient.Histogram = require('prom-client/lib/histogram');
export type Histogram<T extends string = string> = PromClient.Histogram<T>;

type DefaultMetric = (registry: Registry, config: { eventLoopMonitoringPrecision: number }) => void;

/** The modules of prom-client's lib/defaultMetrics.js after processCpuTotal, in its order. */
export const DEFAULT_METRIC_MODULES = [
  'processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors', 'eventLoopLag',
  'processResources', 'processHandles', 'processRequests', 'heapSizeAndUsed', 'heapSpacesSizeAndUsed', 'version', 'gc',
];

/** process_cpu_{user,system}_seconds_total and process_cpu_seconds_total, as lib/metrics/processCpuTotal.js has them. */
function processCpu(registry: Registry): void {
  const registers = [registry];
  let last = process.cpuUsage();
  // Registered first, so that its collect, which sets all three, runs before the other two are read.
  const user = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(userMicros / 1e6);
      system.inc(systemMicros / 1e6);
      total.inc((userMicros + systemMicros) / 1e6);
    },
  });
  const system = new Counter({ name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', registers });
  const total = new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers });
}

/** What prom-client's `collectDefaultMetrics({ register: registry })` registers, in its order. */
export function collectDefaultMetrics(registry: Registry): void {
  processCpu(registry);
  const config = { eventLoopMonitoringPrecision: 10 };
  for (const name of DEFAULT_METRIC_MODULES) (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, config);
}
