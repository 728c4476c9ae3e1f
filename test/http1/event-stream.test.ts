import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBoundary, EventStreamEnd } from '../../src/http1/event-stream.ts';
import { CONTINUE, ResponseFramer } from '../../src/http1/framer.ts';
import { LIMITS, requestHead } from '../helpers/framing.ts';

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

/** A chunked event stream's response framer, its watcher, and what went through and how it ended. */
interface WatchedStream {
  readonly framer: ResponseFramer;
  readonly stream: EventStreamEnd;
  /** Feeds the app's bytes, as the app leg does: through the framer, then the watcher. */
  push(text: string): void;
  forwarded(): string;
  readonly ended: Array<{ status: number; chunked: boolean }>;
}

function watchedStream(): WatchedStream {
  const out: Buffer[] = [];
  const ended: Array<{ status: number; chunked: boolean }> = [];
  let stream: EventStreamEnd | undefined;
  const framer = new ResponseFramer(
    {
      onHead: () => undefined,
      onData: (bytes) => out.push(bytes),
      onMessageComplete: () => CONTINUE,
      onError: (code) => assert.fail(code),
      onChunkEnd: () => stream!.chunkEnded(),
    },
    LIMITS,
  );
  framer.expect(requestHead('GET /events HTTP/1.1\r\nHost: a\r\n\r\n'));
  framer.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n'));
  stream = new EventStreamEnd(framer, { endEventStream: (head, chunked) => ended.push({ status: head.status, chunked }) });
  const push = (text: string): void => {
    framer.push(Buffer.from(text));
    stream.afterData();
  };
  return { framer, stream, push, forwarded: () => Buffer.concat(out).toString('latin1'), ended };
}

test('EventStreamEnd: once due, the stream ends at the first chunk end that is also an event\'s end, nothing after it forwarded', async () => {
  const { stream, forwarded, ended, push } = watchedStream();
  push('d\r\ndata: tick 1\n\r\n');
  stream.scheduleEnd(0);
  push('9\r\ndata: tic\r\n');
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(ended, [], 'the moment came inside an event: wait for its end');
  const before = forwarded().length;
  push('3\r\nk 2\r\n2\r\n\n\n\r\n9\r\ndata: x\n\n\r\n');
  assert.deepEqual(ended, [{ status: 200, chunked: true }]);
  assert.equal(forwarded().slice(before), '3\r\nk 2\r\n2\r\n\n\n\r\n', 'ended right after the chunk that completed the event');
});

test('EventStreamEnd: due between events, between chunks: ends at once; stopped, it never ends', async () => {
  const a = watchedStream();
  a.push('e\r\ndata: tick 1\n\n\r\n');
  a.stream.scheduleEnd(0);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(a.ended, [{ status: 200, chunked: true }]);
  const b = watchedStream();
  b.stream.scheduleEnd(0);
  b.stream.stop();
  await new Promise((resolve) => setTimeout(resolve, 5));
  b.push('e\r\ndata: tick 1\n\n\r\n');
  assert.deepEqual(b.ended, []);
  assert.equal(b.framer.bodyObserver, null);
});
