/**
 * src/metrics/prom.ts requires prom-client's parts from its lib/ directory:
 * these tests fail when a prom-client release moves those files, adds a
 * default metric or changes one, and when the proxy's own process CPU
 * counters stop matching prom-client's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as promClient from 'prom-client';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from '../../src/metrics/prom.ts';

test("the classes are prom-client's own, from the files its index exports", () => {
  assert.equal(Registry, promClient.Registry);
  assert.equal(Counter, promClient.Counter);
  assert.equal(Gauge, promClient.Gauge);
  assert.equal(Histogram, promClient.Histogram);
});

/** Name, type, help and label names of every family in the registry's exposition, in its order. */
async function familiesOf(registry: promClient.Registry): Promise<string[]> {
  const text = await registry.metrics();
  return (await registry.getMetricsAsJSON()).map((metric) => {
    const labels = new Set<string>();
    for (const value of metric.values) for (const name of Object.keys(value.labels)) labels.add(name);
    return `${metric.name} ${metric.type} ${metric.help} {${[...labels].sort().join(',')}} ${text.includes(`# TYPE ${metric.name} `)}`;
  });
}

test("collectDefaultMetrics registers what prom-client's does, in its order", async () => {
  const ours = new Registry();
  collectDefaultMetrics(ours);
  const theirs = new promClient.Registry();
  promClient.collectDefaultMetrics({ register: theirs });
  assert.deepEqual(await familiesOf(ours), await familiesOf(theirs));
});

test('one scrape reads the process CPU counters together: total is user plus system', async () => {
  const registry = new Registry();
  collectDefaultMetrics(registry);
  const until = performance.now() + 30;
  while (performance.now() < until); // CPU time for the counters to count
  const values = new Map((await registry.getMetricsAsJSON())
    .filter((metric) => metric.name.startsWith('process_cpu_'))
    .map((metric) => [metric.name, metric.values[0].value]));
  const user = values.get('process_cpu_user_seconds_total')!;
  const system = values.get('process_cpu_system_seconds_total')!;
  assert.ok(user > 0, `user ${user}`);
  assert.ok(Math.abs(values.get('process_cpu_seconds_total')! - (user + system)) < 1e-9, JSON.stringify([...values]));
});
