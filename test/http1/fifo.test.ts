import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fifo } from '../../src/http1/fifo.ts';

test('keeps order across wrap-around and growth', () => {
  const fifo = new Fifo<number>();
  const model: number[] = [];
  let next = 0;
  // Interleave pushes and shifts so the ring wraps at several capacities.
  for (let round = 0; round < 200; round++) {
    const pushes = (round * 7) % 5;
    const shifts = (round * 3) % 4;
    for (let i = 0; i < pushes; i++) {
      fifo.push(next);
      model.push(next++);
    }
    for (let i = 0; i < shifts; i++) assert.equal(fifo.shift(), model.shift());
    assert.equal(fifo.length, model.length);
    assert.equal(fifo.peek(), model[0]);
  }
  fifo.clear();
  assert.equal(fifo.length, 0);
  assert.equal(fifo.shift(), undefined);
  assert.equal(fifo.peek(), undefined);
});
