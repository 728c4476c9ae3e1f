import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBoundary } from '../../src/http1/event-stream.ts';

function after(...pieces: string[]): boolean {
  const boundary = new EventBoundary();
  for (const piece of pieces) {
    const bytes = Buffer.from(`xx${piece}yy`);
    boundary.observe(bytes, 2, bytes.length - 2);
  }
  return boundary.atBoundary;
}

test('a blank line in any line-ending style ends an event, also across pieces', () => {
  assert.equal(new EventBoundary().atBoundary, true, 'nothing sent yet');
  for (const ending of ['data: a\n\n', 'data: a\r\n\r\n', 'data: a\r\r', ': ping\n\n', 'data: a\n\r\n', 'data: a\r\r\n', 'data: a\r\n\n']) {
    assert.equal(after(ending), true, JSON.stringify(ending));
  }
  assert.equal(after('data: a\n', '\n'), true);
  assert.equal(after('data: a\r\n\r', '\n'), true);
  assert.equal(after('data: a', '\n', '\n'), true);
});

test('inside an event is not a boundary', () => {
  for (const text of ['data: a', 'data: a\n', 'data: a\r\n', 'data: a\r', 'data: a\n\ndata: b\n', 'id: 1\r\n', 'data: a\n\nx']) {
    assert.equal(after(text), false, JSON.stringify(text));
  }
});
