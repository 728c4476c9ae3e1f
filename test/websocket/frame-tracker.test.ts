import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameTracker, closeFrame, type CloseFrame } from '../../src/websocket/frame-tracker.ts';

function frame(opcode: number, payload: Buffer, { fin = true, mask = null as Buffer | null } = {}): Buffer {
  const length = payload.length;
  const header: number[] = [(fin ? 0x80 : 0) | opcode];
  const maskBit = mask === null ? 0 : 0x80;
  if (length < 126) header.push(maskBit | length);
  else if (length < 65536) header.push(maskBit | 126, length >> 8, length & 0xff);
  else header.push(maskBit | 127, 0, 0, 0, 0, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
  const body = mask === null ? payload : Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
  return Buffer.concat([Buffer.from(header), ...(mask === null ? [] : [mask]), body]);
}

const closePayload = (code: number, reason: string): Buffer => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

/** Offsets in the stream where a frame ends, as the tracker reports them, feeding the stream in the given pieces. */
function boundaries(pieces: Buffer[]): { ends: number[]; closes: CloseFrame[] } {
  const closes: CloseFrame[] = [];
  const tracker = new FrameTracker({ closeFrameRead: (_tracker, close) => closes.push(close) });
  const ends: number[] = [];
  let offset = 0;
  for (const piece of pieces) {
    let pos = 0;
    while (pos < piece.length) {
      pos = tracker.advance(piece, pos);
      if (tracker.atBoundary) ends.push(offset + pos);
    }
    offset += piece.length;
  }
  return { ends: [...new Set(ends)], closes };
}

const stream = Buffer.concat([
  frame(0x1, Buffer.from('hello')),
  frame(0x2, Buffer.alloc(300, 1), { fin: false }),
  frame(0x9, Buffer.alloc(0)),
  frame(0x0, Buffer.alloc(70_000, 2)),
  frame(0x1, Buffer.from('masked'), { mask: Buffer.from([9, 8, 7, 6]) }),
  frame(0x8, closePayload(1012, 'draining'), { mask: Buffer.from([1, 2, 3, 4]) }),
]);
const expectedEnds = [7, 7 + 304, 7 + 304 + 2, 7 + 304 + 2 + 70_010, 7 + 304 + 2 + 70_010 + 12, stream.length];

test('finds every frame end, whole or split at any offset', () => {
  assert.deepEqual(boundaries([stream]).ends, expectedEnds);
  for (let cut = 1; cut < stream.length; cut += cut < 400 ? 1 : 997) {
    const { ends, closes } = boundaries([stream.subarray(0, cut), stream.subarray(cut)]);
    assert.deepEqual(ends, expectedEnds, `split at ${cut}`);
    assert.deepEqual(closes, [{ code: 1012, reason: 'draining' }], `split at ${cut}`);
  }
  const oneByOne = boundaries([...stream.subarray(0, 400)].map((b) => Buffer.from([b])));
  assert.deepEqual(oneByOne.ends, expectedEnds.filter((end) => end <= 400));
});

test('reads the code and reason of masked and unmasked close frames, and empty ones', () => {
  assert.deepEqual(boundaries([closeFrame(1001, 'going away')]).closes, [{ code: 1001, reason: 'going away' }]);
  assert.deepEqual(boundaries([frame(0x8, Buffer.alloc(0))]).closes, [{ code: undefined, reason: '' }]);
  assert.deepEqual(boundaries([frame(0x8, closePayload(1000, 'ok'), { mask: Buffer.from([0xff, 0, 0xff, 0]) })]).closes, [{ code: 1000, reason: 'ok' }]);
});

test('closeFrame builds what RFC 6455 says: FIN, opcode 8, unmasked, code then reason', () => {
  assert.deepEqual([...closeFrame(1012, 'draining')], [0x88, 10, 0x03, 0xf4, ...Buffer.from('draining')]);
});

test('an oversized control frame or an impossible length loses the stream instead of guessing', () => {
  const tracker = new FrameTracker();
  tracker.push(Buffer.from([0x89, 126, 0x01, 0x00]));
  assert.equal(tracker.lost, true);
  const huge = new FrameTracker();
  huge.push(Buffer.from([0x82, 127, 0xff, 0, 0, 0, 0, 0, 0, 1]));
  assert.equal(huge.lost, true);
  assert.equal(huge.atBoundary, false, 'nothing may be inserted into a lost stream');
});
