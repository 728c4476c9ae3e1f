/**
 * What the HTTP/1.1 framer tests share (test/http1/framer.test.ts feeds exact
 * bytes, differential.test.ts compares with llhttp): the limits they frame
 * with, the request heads a response framer is told to expect, and the framer
 * for requests or for the responses to given requests.
 */
import assert from 'node:assert/strict';
import { CONTINUE, type FramerLimits, type FramerSink, type MessageFramer, RequestFramer, ResponseFramer } from '../../src/http1/framer.ts';
import type { MessageHead } from '../../src/http1/head.ts';

/** Node's default --max-http-header-size is 16 KiB too; the framer counts every head byte, llhttp fewer. */
export const LIMITS: FramerLimits = { maxHeaderSize: 16384, maxHeaderCount: 100 };

/** The head a request framer makes of `raw`, a complete request head; fails the test if it is refused or incomplete. */
export function requestHead(raw: string, limits: FramerLimits = LIMITS): MessageHead {
  let head: MessageHead | undefined;
  const framer = new RequestFramer(
    {
      onHead: (h) => {
        head = h;
        return undefined;
      },
      onData: () => {},
      onMessageComplete: () => CONTINUE,
      onError: (code) => assert.fail(`request head ${JSON.stringify(raw)} refused: ${code}`),
    },
    limits,
  );
  framer.push(Buffer.from(raw, 'latin1'));
  assert.ok(head !== undefined, `request head ${JSON.stringify(raw)} incomplete`);
  return head;
}

/** A request framer; or, given the requests `asked`, a response framer expecting their responses in that order. */
export function framerFor(sink: FramerSink, limits: FramerLimits, asked?: readonly MessageHead[]): MessageFramer {
  if (asked === undefined) return new RequestFramer(sink, limits);
  const responses = new ResponseFramer(sink, limits);
  for (const head of asked) responses.expect(head);
  return responses;
}
