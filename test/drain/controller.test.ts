import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrainController, type Phase } from '../../src/drain/controller.ts';
import { ConnectionRegistry } from '../../src/listeners/registry.ts';
import { FakeConnection } from '../helpers/connections.ts';

function watch(controller: DrainController): Array<[Phase, number]> {
  const seen: Array<[Phase, number]> = [];
  const start = performance.now();
  controller.on('phase', (phase) => seen.push([phase, performance.now() - start]));
  return seen;
}

test('phases: draining at once, closing after the delay, drained when the last connection goes', async () => {
  const registry = new ConnectionRegistry();
  const controller = new DrainController(registry, { delayMs: 100, timeoutMs: 5000 });
  const connection = new FakeConnection(registry);
  const seen = watch(controller);
  controller.start('SIGTERM');
  assert.equal(controller.phase, 'draining');
  assert.equal(connection.drained, 1, 'open connections are told at t0');
  const late = new FakeConnection(registry);
  assert.equal(late.drained, 1, 'a connection accepted during the drain is told at once');
  late.close('drain_hint');
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(controller.phase, 'closing', 'the last connection is still open');
  connection.close('drain_hint');
  const summary = await controller.whenDrained();
  assert.deepEqual(seen.map(([phase]) => phase), ['draining', 'closing', 'drained']);
  assert.ok(seen[1][1] >= 95, 'closing waits for the delay');
  assert.equal(summary.cut, 0);
  assert.equal(summary.closed.drain_hint, 2);
  assert.equal(summary.trigger, 'SIGTERM');
});

test('with nothing open the drain ends right at the delay; start() twice changes nothing', async () => {
  const registry = new ConnectionRegistry();
  const controller = new DrainController(registry, { delayMs: 50, timeoutMs: 5000 });
  controller.start('admin');
  controller.start('SIGTERM');
  const summary = await controller.whenDrained();
  assert.equal(summary.trigger, 'admin');
  assert.ok(summary.durationMs >= 45 && summary.durationMs < 1000, String(summary.durationMs));
});

test('the deadline cuts what is left and counts it', async () => {
  const registry = new ConnectionRegistry();
  const controller = new DrainController(registry, { delayMs: 20, timeoutMs: 120 });
  const stuck = [new FakeConnection(registry), new FakeConnection(registry)];
  controller.start('SIGTERM');
  const summary = await controller.whenDrained();
  assert.equal(summary.cut, 2);
  assert.equal(summary.closed.drain_deadline, 2);
  assert.deepEqual(stuck.map((c) => c.cutCount), [1, 1]);
  assert.ok(summary.durationMs >= 115);
  assert.equal(registry.size, 0);
});

test('cutNow pulls the deadline in, from any phase', async () => {
  const registry = new ConnectionRegistry();
  const controller = new DrainController(registry, { delayMs: 10_000, timeoutMs: 20_000 });
  new FakeConnection(registry);
  controller.start('SIGINT');
  controller.cutNow();
  assert.equal(controller.phase, 'drained');
  assert.equal((await controller.whenDrained()).cut, 1);
});
