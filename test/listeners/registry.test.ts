import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionRegistry, type CloseReason, type Protocol } from '../../src/listeners/registry.ts';
import { FakeConnection } from '../helpers/connections.ts';

function recordingRegistry(): { registry: ConnectionRegistry; closed: Array<[Protocol, CloseReason]> } {
  const closed: Array<[Protocol, CloseReason]> = [];
  const registry = new ConnectionRegistry({ connectionClosed: (protocol, reason) => closed.push([protocol, reason]) });
  return { registry, closed };
}

test('connections counted by protocol while open; each close told to the observer once, with its reason', () => {
  const { registry, closed } = recordingRegistry();
  const a = new FakeConnection(registry);
  const b = new FakeConnection(registry, { protocol: 'h2' });
  new FakeConnection(registry, { protocol: 'tcp' });
  assert.deepEqual(registry.active, { http1: 1, websocket: 0, h2: 1, tcp: 1 });
  assert.equal(registry.size, 3);
  a.close('client');
  a.close('upstream');
  b.close('idle_timeout');
  assert.deepEqual(registry.active, { http1: 0, websocket: 0, h2: 0, tcp: 1 });
  assert.deepEqual(closed, [['http1', 'client'], ['h2', 'idle_timeout']]);
});

test('replace: the tunnel takes the upgraded connection\'s place, counted under its own protocol, nothing closed; told of a drain under way', () => {
  const { registry, closed } = recordingRegistry();
  const http1 = new FakeConnection(registry);
  registry.startDrain();
  // Made in a registry of its own, as a tunnel is made before it takes the place.
  const tunnel = new FakeConnection(new ConnectionRegistry(), { protocol: 'websocket' });
  registry.replace(http1, tunnel);
  assert.deepEqual(registry.active, { http1: 0, websocket: 1, h2: 0, tcp: 0 });
  assert.equal(registry.size, 1);
  assert.deepEqual(closed, []);
  assert.equal(tunnel.drained, 1, 'the drain under way reaches it');
  http1.close('client');
  assert.deepEqual(closed, [], 'the replaced connection is gone already');
  registry.remove(tunnel, 'drain_close_frame');
  assert.deepEqual(closed, [['websocket', 'drain_close_frame']]);
  assert.equal(registry.closedDuringDrain.drain_close_frame, 1);
});

test('replace of a connection already gone adds nothing', () => {
  const { registry } = recordingRegistry();
  const http1 = new FakeConnection(registry);
  http1.close('client');
  registry.replace(http1, new FakeConnection(new ConnectionRegistry(), { protocol: 'tcp' }));
  assert.equal(registry.size, 0);
  assert.deepEqual(registry.active, { http1: 0, websocket: 0, h2: 0, tcp: 0 });
});

test('the drain reaches every connection once, and those added later at once; closes are counted by reason only during it', () => {
  const { registry } = recordingRegistry();
  const before = new FakeConnection(registry);
  new FakeConnection(registry).close('client');
  registry.startDrain();
  registry.startDrain();
  const later = new FakeConnection(registry);
  assert.equal(before.drained, 1);
  assert.equal(later.drained, 1);
  assert.equal(registry.draining, true);
  later.close('drain_hint');
  assert.equal(registry.closedDuringDrain.client, 0, 'the close before the drain is not in its summary');
  assert.equal(registry.closedDuringDrain.drain_hint, 1);
});

test('"empty" when the last connection goes; cutAll cuts what is left and says how many', () => {
  const { registry } = recordingRegistry();
  let empties = 0;
  registry.on('empty', () => empties++);
  const open = [new FakeConnection(registry), new FakeConnection(registry, { protocol: 'h2' })];
  assert.equal(registry.cutAll(), 2);
  assert.deepEqual(open.map((c) => c.cutCount), [1, 1]);
  assert.equal(empties, 1);
  assert.equal(registry.cutAll(), 0);
});

test('buffered bytes summed by protocol; requests in flight and completed', () => {
  const { registry } = recordingRegistry();
  new FakeConnection(registry, { bytes: 100 });
  new FakeConnection(registry, { bytes: 50 });
  new FakeConnection(registry, { protocol: 'tcp', bytes: 7 });
  assert.deepEqual(registry.bufferedBytes(), { http1: 150, websocket: 0, h2: 0, tcp: 7 });
  registry.requestStarted('h2');
  registry.requestStarted('h2');
  registry.requestFinished('h2');
  registry.requestAbandoned('h2');
  assert.equal(registry.inFlight.h2, 0);
  assert.equal(registry.completed, 1, 'only the finished one counts as completed');
});
