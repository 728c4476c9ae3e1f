import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readiness } from '../../src/admin/readiness.ts';

test('ready only with a healthy app and no drain; a drain is the reason given first', () => {
  const controller = { draining: false };
  const health = { healthy: false };
  const readiness = new Readiness({ controller, health });
  assert.deepEqual([readiness.ready, readiness.notReadyBecause], [false, 'upstream not ready']);
  health.healthy = true;
  assert.deepEqual([readiness.ready, readiness.notReadyBecause], [true, undefined]);
  controller.draining = true;
  assert.deepEqual([readiness.ready, readiness.notReadyBecause], [false, 'draining']);
  health.healthy = false;
  assert.equal(readiness.notReadyBecause, 'draining');
});
