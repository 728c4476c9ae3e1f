import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { ConnectionRegistry } from '../../src/listeners/registry.ts';
import { ConnectionLimit } from '../../src/listeners/connection-limit.ts';
import { MemoryGuard, resolveMemoryLimit } from '../../src/listeners/memory-guard.ts';
import { FakeConnection } from '../helpers/connections.ts';

const MB = 1_000_000;

function setup(limitBytes: number): { guard: MemoryGuard; registry: ConnectionRegistry; limit: ConnectionLimit; shed: () => number; resident: { bytes: number } } {
  const registry = new ConnectionRegistry();
  const limit = new ConnectionLimit(100, () => {}, pino({ level: 'silent' }));
  let shed = 0;
  const resident = { bytes: 0 };
  const guard = new MemoryGuard(limitBytes, { registry, limit, shed: () => shed++, logger: pino({ level: 'silent' }), residentBytes: () => resident.bytes });
  return { guard, registry, limit, shed: () => shed, resident };
}

test('above 90% of the limit: new connections refused, the connections holding the most bytes shed, largest first, enough to reach 80%', () => {
  const { guard, registry, limit, shed, resident } = setup(100 * MB);
  const small = new FakeConnection(registry, { bytes: 32 * 1024 });
  const big = [3, 8, 5, 1].map((mb) => new FakeConnection(registry, { bytes: mb * MB }));
  resident.bytes = 89 * MB;
  guard.check(0);
  assert.equal(guard.underPressure, false);
  assert.equal(limit.memoryPressure, false);
  resident.bytes = 92 * MB; // 12 MB over the low mark: the 8 MB and the 5 MB holders cover it
  guard.check(1000);
  assert.equal(guard.underPressure, true);
  assert.equal(limit.memoryPressure, true, 'new connections are refused');
  assert.deepEqual(big.map((h) => h.shedCount), [0, 1, 1, 0]);
  assert.equal(small.shedCount, 0, 'a connection holding less than 64 KiB is never shed');
  assert.equal(shed(), 2, 'each shed connection counted');
  assert.equal(registry.size, 3);
});

test('shedding at most once a second, and only while there is something worth shedding; accepting again below 80%', () => {
  const { guard, registry, limit, shed, resident } = setup(100 * MB);
  const holders = [4, 4, 4].map((mb) => new FakeConnection(registry, { bytes: mb * MB }));
  resident.bytes = 82 * MB; // not yet at the high mark
  guard.check(0);
  assert.equal(shed(), 0);
  resident.bytes = 95 * MB;
  guard.check(0);
  assert.equal(shed(), 3, 'all three together cover the 15 MB excess');
  new FakeConnection(registry, { bytes: 10 * MB });
  guard.check(500);
  assert.equal(shed(), 3, 'no second round within a second: freed memory shows in RSS only after a collection');
  guard.check(1000);
  assert.equal(shed(), 4);
  resident.bytes = 81 * MB;
  guard.check(3000);
  assert.equal(guard.underPressure, true, 'between the marks: still under pressure');
  resident.bytes = 79 * MB;
  guard.check(4000);
  assert.equal(guard.underPressure, false);
  assert.equal(limit.memoryPressure, false, 'accepting again');
  assert.deepEqual(holders.map((h) => h.shedCount), [1, 1, 1]);
});

test('a guard without a limit never starts; MEMORY_LIMIT auto resolves to the cgroup limit or none', () => {
  const { guard } = setup(0);
  guard.start();
  guard.stop();
  const limit = resolveMemoryLimit('auto');
  const constrained = process.constrainedMemory();
  assert.equal(limit, constrained > 0 && constrained < 2 ** 53 ? constrained : 0);
  assert.equal(resolveMemoryLimit(256 * 2 ** 20), 256 * 2 ** 20);
  assert.equal(resolveMemoryLimit(0), 0);
});
