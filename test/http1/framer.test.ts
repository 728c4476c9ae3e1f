/**
 * The HTTP/1.1 framer fed exact bytes. Every case runs with its input as one
 * chunk, split in two at every offset, and one byte at a time; each run must
 * forward the same bytes and produce the same event log, where every event
 * records how many bytes had been forwarded when it happened.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../../src/errors.ts';
import {
  CONTINUE,
  type FramerLimits,
  PAUSE,
  RequestFramer,
  ResponseFramer,
  STOP,
  type Verdict,
} from '../../src/http1/framer.ts';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE, type MessageHead } from '../../src/http1/head.ts';
import { withConnectionClose } from '../../src/http1/head-rewrite.ts';
import { framerFor, LIMITS, requestHead } from '../helpers/framing.ts';

const BODY_NAMES = { [BODY_NONE]: 'none', [BODY_LENGTH]: 'length', [BODY_CHUNKED]: 'chunked', [BODY_UNTIL_CLOSE]: 'until-close' };

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

interface Script {
  /** Frame responses; each entry is the request head (raw) the response answers. */
  asked?: readonly string[];
  limits?: FramerLimits;
  /** The sink's verdict after each message (default CONTINUE). */
  verdict?: (head: MessageHead, index: number) => Verdict;
  rewrite?: (head: MessageHead) => Buffer | undefined;
  /**
   * When a push leaves the framer paused: 'resume' at once, 'take' the held
   * bytes (an upgrade), or 'later': resume after the last chunk.
   */
  onPause?: 'resume' | 'take' | 'later';
  /** Signal EOF after the last chunk (default true). */
  eof?: boolean;
  /** Give the sink an `onTrailers` (as the HTTP/2 translation does) and log what it gets. */
  trailers?: boolean;
}

interface Outcome {
  log: string[];
  data: string;
  held: string | null;
}

/** One line summing up a head: its first line, body kind, and what else the framer decided. */
function describeHead(head: MessageHead): string {
  const firstLine = head.bytes.toString('latin1', 0, head.bytes.indexOf('\r\n'));
  let text = `${firstLine} ${BODY_NAMES[head.body]}`;
  if (head.body === BODY_LENGTH) text += `:${head.contentLength}`;
  if (!head.keepAlive) text += ' close';
  if (head.upgrade) text += ' upgrade';
  return text;
}

const GET = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
const HEAD_REQUEST = 'HEAD / HTTP/1.1\r\nHost: a\r\n\r\n';
const UPGRADE_REQUEST = 'GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';

function run(chunks: readonly Buffer[], script: Script): Outcome {
  const log: string[] = [];
  const out: Buffer[] = [];
  let forwarded = 0;
  let index = 0;
  const sink = {
    onHead(head: MessageHead): Buffer | undefined {
      log.push(`head ${describeHead(head)} @${forwarded}`);
      return script.rewrite?.(head);
    },
    onData(data: Buffer): void {
      assert.ok(data.length > 0, 'onData with no bytes');
      out.push(data);
      forwarded += data.length;
    },
    onMessageComplete(head: MessageHead): Verdict {
      const verdict = script.verdict?.(head, index++) ?? CONTINUE;
      log.push(`complete @${forwarded}${verdict === PAUSE ? ' pause' : verdict === STOP ? ' stop' : ''}`);
      return verdict;
    },
    onError(code: ErrorCode): void {
      log.push(`error ${code} @${forwarded}`);
    },
    ...(script.trailers === true ? {
      onTrailers(section: Buffer): void {
        // Where it comes among the forwarded bytes depends on the cuts (bytes are flushed per chunk): no position.
        log.push(`trailers ${JSON.stringify(section.toString('latin1'))}`);
      },
    } : {}),
  };
  const framer = framerFor(sink, script.limits ?? LIMITS, script.asked?.map((raw) => requestHead(raw)));
  let held: Buffer[] | null = null;
  for (const chunk of chunks) {
    if (held !== null) {
      held.push(chunk);
      continue;
    }
    framer.push(chunk);
    if (framer.paused && script.onPause === 'take') {
      log.push('take');
      held = framer.takeHeld();
    }
    while (framer.paused && script.onPause === 'resume') {
      log.push('resume');
      framer.resume();
    }
  }
  if (framer.paused && script.onPause === 'later') {
    log.push('resume');
    framer.resume();
  }
  if (held === null && script.eof !== false) log.push(`end → ${framer.end()}`);
  return {
    log,
    data: Buffer.concat(out).toString('latin1'),
    held: held === null ? null : Buffer.concat(held).toString('latin1'),
  };
}

/** Every way the input is cut: whole, in two at each offset, byte by byte. */
function* cuts(input: Buffer): Generator<[string, Buffer[]]> {
  yield ['one chunk', [input]];
  for (let i = 1; i < input.length; i++) yield [`split at ${i}`, [input.subarray(0, i), input.subarray(i)]];
  const single: Buffer[] = [];
  for (let i = 0; i < input.length; i++) single.push(input.subarray(i, i + 1));
  yield ['byte by byte', single];
}

/** Frames the input cut every way; all must agree. Returns the outcome. */
function frameEveryWay(input: string | Buffer, script: Script = {}): Outcome {
  const buffer = typeof input === 'string' ? bytes(input) : input;
  // Copies per run, so a framer that kept references to old chunks could not hide behind shared memory.
  const whole = run([Buffer.from(buffer)], script);
  for (const [name, chunks] of cuts(buffer)) {
    const outcome = run(
      chunks.map((c) => Buffer.from(c)),
      script,
    );
    assert.deepEqual(outcome, whole, `${name} differs from one chunk for ${JSON.stringify(buffer.toString('latin1'))}`);
  }
  return whole;
}

const upgradeVerdict = (head: MessageHead): Verdict => (head.upgrade ? PAUSE : CONTINUE);

describe('RequestFramer', () => {
  test('forwards a Content-Length body and completes after its last byte', () => {
    const input = 'POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello world';
    const { log, data } = frameEveryWay(input);
    assert.deepEqual(log, ['head POST /upload HTTP/1.1 length:11 @0', `complete @${input.length}`, 'end → true']);
    assert.equal(data, input);
  });

  test('a request without a body completes at the end of its head', () => {
    for (const input of [GET, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n', 'GET / HTTP/1.0\r\n\r\n']) {
      const { log, data } = frameEveryWay(input);
      const firstLine = input.slice(0, input.indexOf('\r\n'));
      const close = input.includes('HTTP/1.0') ? ' close' : '';
      assert.deepEqual(log, [`head ${firstLine} none${close} @0`, `complete @${input.length}`, 'end → true']);
      assert.equal(data, input);
    }
  });

  test('a chunked body with extensions and trailers is forwarded verbatim', () => {
    const input =
      'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;name=value;flag\r\nhello\r\n' +
      '6;q="a;b=c"\r\n world\r\n' +
      'A;x="\tq\x80"\r\n0123456789\r\n' +
      '0;last=1\r\nExpires: never\r\nX-Sum:\t1 \r\n\r\n';
    const { log, data } = frameEveryWay(input);
    assert.deepEqual(log, ['head POST /c HTTP/1.1 chunked @0', `complete @${input.length}`, 'end → true']);
    assert.equal(data, input);
  });

  test('trailers named almost like framing headers are ordinary trailers', () => {
    const input = `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Lengths: 1\r\nContent-Lengt: 1\r\nX-Transfer-Encoding: gzip\r\nTransfer-Encodin: x\r\n\r\n`;
    const { log, data } = frameEveryWay(input);
    assert.deepEqual(log, ['head POST / HTTP/1.1 chunked @0', `complete @${input.length}`, 'end → true']);
    assert.equal(data, input);
  });

  test('a sink that asks for trailers gets the section as received, before the message completes; bytes forwarded unchanged', () => {
    const head = 'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';
    const input = `${head}5\r\nhello\r\n0;last=1\r\nExpires: never\r\nX-Sum:\t1 \r\n\r\n`;
    const { log, data } = frameEveryWay(input, { trailers: true });
    assert.deepEqual(log, [
      'head POST /c HTTP/1.1 chunked @0',
      `trailers ${JSON.stringify('Expires: never\r\nX-Sum:\t1 \r\n')}`,
      `complete @${input.length}`,
      'end → true',
    ]);
    assert.equal(data, input);
    // An empty trailer section, and a body that is not chunked: no call.
    for (const plain of [`${head}3\r\nabc\r\n0\r\n\r\n${GET}`, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi']) {
      assert.ok(!frameEveryWay(plain, { trailers: true }).log.some((line) => line.startsWith('trailers')), plain);
    }
    // Two messages in a row, each with its own trailers.
    const twice = `${head}0\r\nA: 1\r\n\r\n${head}0\r\nB: 2\r\n\r\n`;
    assert.deepEqual(frameEveryWay(twice, { trailers: true }).log.filter((line) => line.startsWith('trailers')), [
      `trailers ${JSON.stringify('A: 1\r\n')}`,
      `trailers ${JSON.stringify('B: 2\r\n')}`,
    ]);
  });

  test('trailers refused midway never reach onTrailers', () => {
    const input = 'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\nContent-Length: 1\r\n\r\n';
    const { log } = frameEveryWay(input, { trailers: true });
    assert.equal(log.filter((line) => line.startsWith('trailers')).length, 0);
    assert.match(log.at(-2) ?? '', /^error DP_AMBIGUOUS_LENGTH/);
  });

  test('request targets in origin, asterisk and absolute form pass', () => {
    for (const target of ['/', '//x', '/a"<>{}|\\^`?q#f', '*', 'http://example.com/p?q', 'HTTP://A', 'https://a.b:443/x?y#z', 'http://[::1]:8080/', 'http://u@h/', 'http://', 'ws://h?x']) {
      const input = `OPTIONS ${target} HTTP/1.1\r\nHost: a\r\n\r\n`;
      assert.deepEqual(frameEveryWay(input).log, [`head OPTIONS ${target} HTTP/1.1 none @0`, `complete @${input.length}`, 'end → true'], target);
    }
  });

  test('chunk sizes in either case and with leading zeros; an empty trailer section', () => {
    const body = 'b\r\n0123456789a\r\n0000B\r\n0123456789A\r\n000\r\n\r\n';
    const input = `PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n${body}${GET}`;
    const { log, data } = frameEveryWay(input);
    const first = input.length - GET.length;
    assert.deepEqual(log, [
      'head PUT /x HTTP/1.1 chunked @0',
      `complete @${first}`,
      `head GET / HTTP/1.1 none @${first}`,
      `complete @${input.length}`,
      'end → true',
    ]);
    assert.equal(data, input);
  });

  test('pipelined requests in one chunk are framed one by one', () => {
    const a = 'GET /a HTTP/1.1\r\nHost: a\r\n\r\n';
    const b = 'POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz';
    const c = 'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n';
    const d = 'DELETE /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
    const input = a + b + c + d;
    const { log, data } = frameEveryWay(input);
    assert.deepEqual(log, [
      'head GET /a HTTP/1.1 none @0',
      `complete @${a.length}`,
      `head POST /b HTTP/1.1 length:3 @${a.length}`,
      `complete @${a.length + b.length}`,
      `head POST /c HTTP/1.1 chunked @${a.length + b.length}`,
      `complete @${a.length + b.length + c.length}`,
      `head DELETE /d HTTP/1.1 none close @${a.length + b.length + c.length}`,
      `complete @${input.length}`,
      'end → true',
    ]);
    assert.equal(data, input);
  });

  test('a message body that looks like a request is body, not a request', () => {
    const smuggled = `GET /admin HTTP/1.1\r\nHost: a\r\n\r\n`;
    const input = `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`;
    const { log } = frameEveryWay(input);
    assert.deepEqual(log, [`head POST / HTTP/1.1 length:${smuggled.length} @0`, `complete @${input.length}`, 'end → true']);
  });

  test('empty lines before a request are dropped, between pipelined requests too', () => {
    const input = `\r\n\r\n${GET}\r\n${GET}`;
    const { log, data } = frameEveryWay(input);
    assert.deepEqual(log, [
      'head GET / HTTP/1.1 none @0',
      `complete @${GET.length}`,
      `head GET / HTTP/1.1 none @${GET.length}`,
      `complete @${2 * GET.length}`,
      'end → true',
    ]);
    assert.equal(data, GET + GET);
  });

  test('any number of empty lines before a request, however split', () => {
    // More empty lines than maxHeaderSize: they are not part of any head.
    const input = `${'\r\n'.repeat(40)}${GET}`;
    const { log, data } = frameEveryWay(input, { limits: { maxHeaderSize: 64, maxHeaderCount: 10 } });
    assert.deepEqual(log, ['head GET / HTTP/1.1 none @0', `complete @${GET.length}`, 'end → true']);
    assert.equal(data, GET);
  });

  test('a stream of nothing but empty lines ends clean', () => {
    const { log, data } = frameEveryWay(`${GET}\r\n\r\n`);
    assert.deepEqual(log, ['head GET / HTTP/1.1 none @0', `complete @${GET.length}`, 'end → true']);
    assert.equal(data, GET);
  });

  test('EOF inside a message is not clean and forwards nothing of an unfinished head', () => {
    const { log, data } = frameEveryWay('GET / HTTP/1.1\r\nHost: a\r\n');
    assert.deepEqual(log, ['end → false']);
    assert.equal(data, '');
    const body = 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab';
    const partial = frameEveryWay(body);
    assert.deepEqual(partial.log, ['head POST / HTTP/1.1 length:5 @0', 'end → false']);
    assert.equal(partial.data, body);
  });

  test('an Upgrade request: PAUSE holds every later byte, takeHeld hands them over', () => {
    const after = '\x81\x05hello GET / HTTP/1.1\r\n\r\n';
    const input = UPGRADE_REQUEST + after;
    const { log, data, held } = frameEveryWay(input, { verdict: upgradeVerdict, onPause: 'take' });
    assert.deepEqual(log, [
      'head GET /chat HTTP/1.1 none upgrade @0',
      `complete @${UPGRADE_REQUEST.length} pause`,
      'take',
    ]);
    assert.equal(data, UPGRADE_REQUEST);
    assert.equal(held, after);
  });

  test('an Upgrade request answered without 101: resume() frames the requests held meanwhile', () => {
    const input = UPGRADE_REQUEST + GET + UPGRADE_REQUEST + GET;
    const expected = [
      'head GET /chat HTTP/1.1 none upgrade @0',
      `complete @${UPGRADE_REQUEST.length} pause`,
      'resume',
      `head GET / HTTP/1.1 none @${UPGRADE_REQUEST.length}`,
      `complete @${UPGRADE_REQUEST.length + GET.length}`,
      `head GET /chat HTTP/1.1 none upgrade @${UPGRADE_REQUEST.length + GET.length}`,
      `complete @${2 * UPGRADE_REQUEST.length + GET.length} pause`,
      'resume',
      `head GET / HTTP/1.1 none @${2 * UPGRADE_REQUEST.length + GET.length}`,
      `complete @${input.length}`,
      'end → true',
    ];
    for (const onPause of ['resume', 'later'] as const) {
      const { log, data } = frameEveryWay(input, { verdict: upgradeVerdict, onPause });
      if (onPause === 'resume') {
        assert.deepEqual(log, expected);
      } else {
        // Resumed only after all chunks: the second upgrade pauses again and stays paused.
        assert.deepEqual(log, [...expected.slice(0, 7), 'end → false']);
      }
      assert.equal(data, onPause === 'resume' ? input : UPGRADE_REQUEST + GET + UPGRADE_REQUEST);
    }
  });

  test('while paused nothing is forwarded and the framer is not idle', () => {
    const framed: string[] = [];
    const framer = new RequestFramer(
      {
        onHead: () => undefined,
        onData: (b) => framed.push(b.toString('latin1')),
        onMessageComplete: (head) => (head.upgrade ? PAUSE : CONTINUE),
        onError: (code) => assert.fail(code),
      },
      LIMITS,
    );
    framer.push(bytes(UPGRADE_REQUEST + 'GE'));
    framer.push(bytes('T / HTTP/1.1\r\nHost: a\r\n\r\n'));
    assert.equal(framer.paused, true);
    assert.equal(framer.idle, false);
    assert.deepEqual(framed, [UPGRADE_REQUEST]);
    framer.resume();
    assert.equal(framer.paused, false);
    assert.equal(framer.idle, true);
    assert.equal(framed.join(''), UPGRADE_REQUEST + GET);
  });

  test('STOP after a message: nothing after it is forwarded', () => {
    const input = `${GET}${GET}`;
    const { log, data } = frameEveryWay(input, { verdict: () => STOP, eof: false });
    assert.deepEqual(log, ['head GET / HTTP/1.1 none @0', `complete @${GET.length} stop`]);
    assert.equal(data, GET);
  });

  test('a head of exactly maxHeaderSize bytes passes; one byte more is DP_HEAD_TOO_LARGE', () => {
    const limits = { maxHeaderSize: 64, maxHeaderCount: 10 };
    const make = (size: number): string => {
      const start = 'GET / HTTP/1.1\r\nHost: a\r\nX: ';
      return `${start}${'v'.repeat(size - start.length - 4)}\r\n\r\n`;
    };
    const fits = make(64);
    assert.equal(fits.length, 64);
    assert.deepEqual(frameEveryWay(fits, { limits }).log, ['head GET / HTTP/1.1 none @0', 'complete @64', 'end → true']);
    // Refused as soon as the limit is certain to be exceeded, with no byte of it forwarded.
    for (const input of [make(65), `${GET}${make(65)}`, `${GET}${make(65).slice(0, 64)}`, `GET /${'x'.repeat(80)}`]) {
      const prefix = input.startsWith(GET) ? GET : '';
      const { log, data } = frameEveryWay(input, { limits });
      assert.deepEqual(log.slice(-2), [`error DP_HEAD_TOO_LARGE @${prefix.length}`, 'end → false'], JSON.stringify(input));
      assert.equal(data, prefix);
    }
  });

  test('maxHeaderCount header lines pass; one more is DP_TOO_MANY_HEADERS', () => {
    const limits = { maxHeaderSize: 4096, maxHeaderCount: 3 };
    const three = 'GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n';
    assert.deepEqual(frameEveryWay(three, { limits }).log, ['head GET / HTTP/1.1 none @0', `complete @${three.length}`, 'end → true']);
    const four = 'GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n';
    const { log, data } = frameEveryWay(GET + four, { limits });
    assert.deepEqual(log, ['head GET / HTTP/1.1 none @0', `complete @${GET.length}`, `error DP_TOO_MANY_HEADERS @${GET.length}`, 'end → false']);
    assert.equal(data, GET);
  });

  test('trailers count against maxHeaderSize', () => {
    const limits = { maxHeaderSize: 64, maxHeaderCount: 10 };
    const head = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n';
    const input = `${head}X: ${'t'.repeat(70)}\r\n\r\n`;
    const { log, data } = frameEveryWay(input, { limits });
    // The 65th trailer byte is refused; everything before it was streamed.
    const failAt = head.length + 64;
    assert.deepEqual(log, ['head POST / HTTP/1.1 chunked @0', `error DP_HEAD_TOO_LARGE @${failAt}`, 'end → false']);
    assert.equal(data, input.slice(0, failAt));
  });

  test('a replacement head is forwarded instead of the received one; the body follows', () => {
    const input = 'POST / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nbody' + GET;
    const { log, data } = frameEveryWay(input, { rewrite: (head) => withConnectionClose(head) });
    const first = 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody';
    const second = 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
    assert.deepEqual(log, [
      'head POST / HTTP/1.1 length:4 @0',
      `complete @${first.length}`,
      `head GET / HTTP/1.1 none @${first.length}`,
      `complete @${first.length + second.length}`,
      'end → true',
    ]);
    assert.equal(data, first + second);
  });
});

describe('RequestFramer forwards without copying', () => {
  function collect(): { sink: ConstructorParameters<typeof RequestFramer>[0]; out: Buffer[] } {
    const out: Buffer[] = [];
    return {
      out,
      sink: {
        onHead: () => undefined,
        onData: (b) => out.push(b),
        onMessageComplete: () => CONTINUE,
        onError: (code) => assert.fail(code),
      },
    };
  }

  test('a message in one chunk, not rewritten, is forwarded as that very Buffer', () => {
    const { sink, out } = collect();
    const framer = new RequestFramer(sink, LIMITS);
    const chunk = bytes('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc');
    framer.push(chunk);
    assert.equal(out.length, 1);
    assert.equal(out[0], chunk);
  });

  test('body bytes are views of the chunk they arrived in, never copies', () => {
    const { sink, out } = collect();
    const framer = new RequestFramer(sink, LIMITS);
    framer.push(bytes('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n'));
    const body = bytes('0123456789GET / HTTP/1.1\r\n');
    framer.push(body);
    const bodyView = out[1];
    assert.equal(bodyView.toString(), '0123456789');
    assert.equal(bodyView.buffer, body.buffer);
    assert.equal(bodyView.byteOffset, body.byteOffset);
    // Mutating the input shows through: the same memory.
    body[0] = 0x41;
    assert.equal(bodyView[0], 0x41);
  });

  test('pipelined messages in one chunk are forwarded as views of it', () => {
    const { sink, out } = collect();
    const framer = new RequestFramer(sink, LIMITS);
    const chunk = bytes(`${GET}POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n`);
    framer.push(chunk);
    assert.equal(out.length, 2);
    for (const view of out) assert.equal(view.buffer, chunk.buffer);
    assert.equal(Buffer.concat(out).toString('latin1'), chunk.toString('latin1'));
  });

  test('chunked body data is a view of its chunk', () => {
    const { sink, out } = collect();
    const framer = new RequestFramer(sink, LIMITS);
    framer.push(bytes('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'));
    const data = bytes('a\r\n0123456789\r\n');
    framer.push(data);
    assert.equal(out.at(-1), data);
  });
});

describe('ResponseFramer', () => {
  test('a Content-Length response to a GET', () => {
    const input = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
    const { log, data } = frameEveryWay(input, { asked: [GET] });
    assert.deepEqual(log, ['head HTTP/1.1 200 OK length:5 @0', `complete @${input.length}`, 'end → true']);
    assert.equal(data, input);
  });

  test('a response to HEAD has no body, whatever its headers say', () => {
    const a = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n';
    const b = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    const c = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi';
    const input = a + b + c;
    const { log, data } = frameEveryWay(input, { asked: [HEAD_REQUEST, HEAD_REQUEST, GET] });
    assert.deepEqual(log, [
      'head HTTP/1.1 200 OK none @0',
      `complete @${a.length}`,
      `head HTTP/1.1 200 OK none @${a.length}`,
      `complete @${a.length + b.length}`,
      `head HTTP/1.1 200 OK length:2 @${a.length + b.length}`,
      `complete @${input.length}`,
      'end → true',
    ]);
    assert.equal(data, input);
  });

  test('1xx interim responses come before the final one and do not answer the request', () => {
    const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n';
    const final = 'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok';
    const input = interim + final + 'HTTP/1.1 204 No Content\r\n\r\n';
    const { log, data } = frameEveryWay(input, { asked: [GET, GET] });
    assert.deepEqual(log, [
      'head HTTP/1.1 100 Continue none @0',
      'complete @25',
      'head HTTP/1.1 103 Early Hints none @25',
      `complete @${interim.length}`,
      `head HTTP/1.1 201 Created length:2 @${interim.length}`,
      `complete @${interim.length + final.length}`,
      `head HTTP/1.1 204 No Content none @${interim.length + final.length}`,
      `complete @${input.length}`,
      'end → true',
    ]);
    assert.equal(data, input);
  });

  test('204 and 304 have no body whatever their headers say', () => {
    const a = 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n';
    const b = 'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n';
    const c = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
    const input = a + b + c;
    const { log } = frameEveryWay(input, { asked: [GET, GET, GET] });
    assert.deepEqual(log, [
      'head HTTP/1.1 204 No Content none @0',
      `complete @${a.length}`,
      `head HTTP/1.1 304 Not Modified none @${a.length}`,
      `complete @${a.length + b.length}`,
      `head HTTP/1.1 200 OK none @${a.length + b.length}`,
      `complete @${input.length}`,
      'end → true',
    ]);
  });

  test('a chunked response with trailers', () => {
    const input = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Digest\r\n\r\n3\r\nabc\r\n0\r\nX-Digest: 42\r\n\r\n';
    const { log, data } = frameEveryWay(input, { asked: [GET] });
    assert.deepEqual(log, ['head HTTP/1.1 200 OK chunked @0', `complete @${input.length}`, 'end → true']);
    assert.equal(data, input);
    const asked = frameEveryWay(input, { asked: [GET], trailers: true });
    assert.deepEqual(asked.log, ['head HTTP/1.1 200 OK chunked @0', 'trailers "X-Digest: 42\\r\\n"', `complete @${input.length}`, 'end → true']);
  });

  test('a response without Content-Length or chunked ends at EOF: end() completes it', () => {
    for (const input of [
      'HTTP/1.1 200 OK\r\n\r\nall of this until the connection closes HTTP/1.1 200 OK\r\n\r\n',
      'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold style',
    ]) {
      const { log, data } = frameEveryWay(input, { asked: [GET, GET] });
      const firstLine = input.slice(0, input.indexOf('\r\n'));
      assert.deepEqual(log, [`head ${firstLine} until-close close @0`, `complete @${input.length}`, 'end → true']);
      assert.equal(data, input);
    }
  });

  test('Connection: close and HTTP/1.0 responses are not keep-alive', () => {
    const { log } = frameEveryWay('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', { asked: [GET] });
    assert.equal(log[0], 'head HTTP/1.1 200 OK none close @0');
    const old = frameEveryWay('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', { asked: [GET] });
    assert.equal(old.log[0], 'head HTTP/1.0 200 OK none close @0');
    const kept = frameEveryWay('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n', { asked: [GET] });
    assert.equal(kept.log[0], 'head HTTP/1.0 200 OK none @0');
  });

  test('101 answering an Upgrade request: PAUSE, then takeHeld gives the new protocol\'s bytes', () => {
    const head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    const after = '\x81\x02hi';
    const { log, data, held } = frameEveryWay(head + after, {
      asked: [UPGRADE_REQUEST],
      verdict: (h) => (h.status === 101 ? PAUSE : CONTINUE),
      onPause: 'take',
    });
    assert.deepEqual(log, [
      'head HTTP/1.1 101 Switching Protocols none upgrade @0',
      `complete @${head.length} pause`,
      'take',
    ]);
    assert.equal(data, head);
    assert.equal(held, after);
  });

  test('an Upgrade request answered with a non-101 response is an ordinary exchange', () => {
    const refusal = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nno!';
    const input = `${refusal}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`;
    const { log } = frameEveryWay(input, { asked: [UPGRADE_REQUEST, GET] });
    assert.deepEqual(log, [
      'head HTTP/1.1 400 Bad Request length:3 @0',
      `complete @${refusal.length}`,
      `head HTTP/1.1 200 OK none @${refusal.length}`,
      `complete @${input.length}`,
      'end → true',
    ]);
  });

  test('101 to a request that did not ask to upgrade, or any response nobody asked for, is refused', () => {
    const switching = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    assert.deepEqual(frameEveryWay(switching, { asked: [GET] }).log, ['error DP_UPSTREAM_BAD_RESPONSE @0', 'end → false']);
    const extra = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
    const { log, data } = frameEveryWay(extra + extra, { asked: [GET] });
    assert.deepEqual(log, [
      'head HTTP/1.1 200 OK none @0',
      `complete @${extra.length}`,
      `error DP_UPSTREAM_BAD_RESPONSE @${extra.length}`,
      'end → false',
    ]);
    assert.equal(data, extra);
  });
});

interface Rejection {
  name: string;
  input: string;
  code: ErrorCode;
  /** Responses: the requests asked (default: one GET). */
  response?: boolean;
  /**
   * For errors inside a chunked body, the bytes of the message forwarded
   * before the offending byte (head and body streamed as they came). Heads are
   * held until valid, so for every other rejection nothing of the message is
   * forwarded.
   */
  streamed?: string;
}

const H = 'GET / HTTP/1.1\r\nHost: a\r\n';
const CHUNKED = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';

const REJECTIONS: Rejection[] = [
  // Ambiguous or invalid length.
  { name: 'Content-Length and Transfer-Encoding (CL.TE)', input: `${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, code: 'DP_AMBIGUOUS_LENGTH' },
  { name: 'Transfer-Encoding and Content-Length (TE.CL)', input: `${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, code: 'DP_AMBIGUOUS_LENGTH' },
  { name: 'CL.TE with an obfuscated TE', input: `${H}Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, code: 'DP_AMBIGUOUS_LENGTH' },
  { name: 'duplicate Content-Length, same value', input: `${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\na`, code: 'DP_BAD_CONTENT_LENGTH' },
  { name: 'duplicate Content-Length, different values', input: `${H}Content-Length: 1\r\ncontent-length: 2\r\n\r\nab`, code: 'DP_BAD_CONTENT_LENGTH' },
  { name: 'comma-separated Content-Length', input: `${H}Content-Length: 1, 1\r\n\r\na`, code: 'DP_BAD_CONTENT_LENGTH' },
  { name: 'negative Content-Length', input: `${H}Content-Length: -1\r\n\r\n`, code: 'DP_BAD_CONTENT_LENGTH' },
  { name: 'Content-Length with a plus sign', input: `${H}Content-Length: +1\r\n\r\na`, code: 'DP_BAD_CONTENT_LENGTH' },
  { name: 'hexadecimal Content-Length', input: `${H}Content-Length: 0x1\r\n\r\na`, code: 'DP_BAD_CONTENT_LENGTH' },
  { name: 'empty Content-Length', input: `${H}Content-Length: \r\n\r\n`, code: 'DP_BAD_CONTENT_LENGTH' },
  { name: 'Content-Length with inner space', input: `${H}Content-Length: 1 2\r\n\r\n`, code: 'DP_BAD_CONTENT_LENGTH' },
  { name: 'huge Content-Length', input: `${H}Content-Length: 99999999999999999999\r\n\r\n`, code: 'DP_BAD_CONTENT_LENGTH' },
  { name: 'Transfer-Encoding gzip', input: `${H}Transfer-Encoding: gzip\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING' },
  { name: 'Transfer-Encoding chunked, identity', input: `${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING' },
  { name: 'Transfer-Encoding identity, chunked', input: `${H}Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING' },
  { name: 'Transfer-Encoding xchunked', input: `${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING' },
  { name: 'Transfer-Encoding quoted', input: `${H}Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING' },
  { name: 'Transfer-Encoding with a vertical tab', input: `${H}Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'Transfer-Encoding twice', input: `${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING' },
  { name: 'empty Transfer-Encoding', input: `${H}Transfer-Encoding:\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING' },
  { name: 'Transfer-Encoding chunked followed by a tab', input: `${H}Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING' },
  { name: 'Transfer-Encoding chunked, space, tab', input: `${H}Transfer-Encoding: Chunked \t\r\n\r\n0\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING' },
  { name: 'Transfer-Encoding in HTTP/1.0', input: 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', code: 'DP_BAD_TRANSFER_ENCODING' },
  // Host.
  { name: 'HTTP/1.1 without Host', input: 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', code: 'DP_MISSING_HOST' },
  { name: 'two Host headers', input: `${H}Host: b\r\n\r\n`, code: 'DP_MISSING_HOST' },
  // Line endings and folding.
  { name: 'bare LF ending the request line', input: 'GET / HTTP/1.1\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'bare LF ending a header line', input: 'GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n', code: 'DP_BAD_HEADER' },
  { name: 'bare LF ending the head', input: `${H}\n`, code: 'DP_BAD_HEADER' },
  { name: 'bare LF before the request', input: `\n${H}\r\n`, code: 'DP_BAD_REQUEST_LINE' },
  { name: 'bare CR in a header value', input: `${H}X: a\rb\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'bare CR in the request line', input: 'GET /\r HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'bare CR before the request', input: `\r${H}\r\n`, code: 'DP_BAD_REQUEST_LINE' },
  { name: 'obs-fold with a space', input: `${H}X: a\r\n b\r\n\r\n`, code: 'DP_OBS_FOLD' },
  { name: 'obs-fold with a tab', input: `${H}X: a\r\n\tb\r\n\r\n`, code: 'DP_OBS_FOLD' },
  { name: 'obs-fold right after the request line', input: 'GET / HTTP/1.1\r\n Host: a\r\n\r\n', code: 'DP_OBS_FOLD' },
  // Bytes in names and values.
  { name: 'NUL in a header name', input: `${H}X\x00Y: 1\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'NUL in a header value', input: `${H}X: a\x00b\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'control byte in a header value', input: `${H}X: a\x01b\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'DEL in a header value', input: `${H}X: a\x7fb\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'DEL in a header name', input: `${H}X\x7f: 1\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'high byte in a header name', input: `${H}X\x80: 1\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'space before the colon', input: `${H}Content-Length : 5\r\n\r\nhello`, code: 'DP_BAD_HEADER' },
  { name: 'tab before the colon', input: `${H}Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'empty header name', input: `${H}: a\r\n\r\n`, code: 'DP_BAD_HEADER' },
  { name: 'header line without a colon', input: `${H}X\r\n\r\n`, code: 'DP_BAD_HEADER' },
  // Request line.
  { name: 'HTTP/0.9 request line', input: 'GET /\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'HTTP/0.9 version', input: 'GET / HTTP/0.9\r\nHost: a\r\n\r\n', code: 'DP_BAD_VERSION' },
  { name: 'HTTP/2.0 request line that is not the preface', input: 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', code: 'DP_BAD_VERSION' },
  { name: 'HTTP/1.2', input: 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', code: 'DP_BAD_VERSION' },
  { name: 'lower-case version', input: 'GET / http/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'two-digit version', input: 'GET / HTTP/1.10\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'trailing space after the version', input: 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'two spaces after the method', input: 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'tab in the target', input: 'GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'high byte in the target', input: 'GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'target without a leading slash', input: 'GET a HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'target starting with ?', input: 'GET ?x HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'scheme with a digit', input: 'GET h2://x/ HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'scheme without //', input: 'GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'quote in the authority', input: 'GET http://a"b/ HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'fragment in the authority', input: 'GET http://a#b HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'two @ in the authority', input: 'GET http://a@b@c/ HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_REQUEST_LINE' },
  { name: 'CONNECT', input: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', code: 'DP_CONNECT_REFUSED' },
  { name: 'unknown method', input: 'BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_METHOD' },
  { name: 'lower-case method', input: 'get / HTTP/1.1\r\nHost: a\r\n\r\n', code: 'DP_BAD_METHOD' },
  { name: 'the HTTP/2 preface', input: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', code: 'DP_BAD_VERSION' },
  // Chunked bodies: refused at the offending byte.
  { name: 'chunk size overflow', input: `${CHUNKED}10000000000000\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1000000000000` },
  { name: 'chunk size missing', input: `${CHUNKED}\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: CHUNKED },
  { name: 'chunk size not hex', input: `${CHUNKED}g\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: CHUNKED },
  { name: 'negative chunk size', input: `${CHUNKED}-1\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: CHUNKED },
  { name: 'space after the chunk size', input: `${CHUNKED}1 \r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1` },
  { name: 'space before a chunk extension', input: `${CHUNKED}1 ;a\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1` },
  { name: 'space after the semicolon', input: `${CHUNKED}1; a=b\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1;` },
  { name: 'empty chunk extension', input: `${CHUNKED}1;\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1;` },
  { name: 'chunk extension without a value after =', input: `${CHUNKED}1;a=\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1;a=` },
  { name: 'chunk extension value with =', input: `${CHUNKED}1;a=b=c\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1;a=b` },
  { name: 'chunk extension with text after the quotes', input: `${CHUNKED}1;a="b"c\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1;a="b"` },
  { name: 'chunk extension with a quoted-pair', input: `${CHUNKED}1;a="b\\"c"\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1;a="b` },
  { name: 'chunk extension with a control byte', input: `${CHUNKED}1;a="\x01"\r\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1;a="` },
  { name: 'bare LF after the chunk size', input: `${CHUNKED}1\nx\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1` },
  { name: 'chunk data longer than its size', input: `${CHUNKED}1\r\nxy\r\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1\r\nx` },
  { name: 'bare LF after chunk data', input: `${CHUNKED}1\r\nx\n0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1\r\nx` },
  { name: 'CR without LF after chunk data', input: `${CHUNKED}1\r\nx\rX0\r\n\r\n`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}1\r\nx\r` },
  { name: 'bare LF ending the trailers', input: `${CHUNKED}0\r\n\n`, code: 'DP_BAD_HEADER', streamed: `${CHUNKED}0\r\n` },
  { name: 'CR without LF ending the trailers', input: `${CHUNKED}0\r\n\rX`, code: 'DP_BAD_CHUNK', streamed: `${CHUNKED}0\r\n\r` },
  { name: 'obs-fold in the trailers', input: `${CHUNKED}0\r\nX: a\r\n b\r\n\r\n`, code: 'DP_OBS_FOLD', streamed: `${CHUNKED}0\r\nX: a\r\n` },
  { name: 'space before the colon in a trailer', input: `${CHUNKED}0\r\nX : a\r\n\r\n`, code: 'DP_BAD_HEADER', streamed: `${CHUNKED}0\r\nX` },
  { name: 'control byte in a trailer value', input: `${CHUNKED}0\r\nX: \x01\r\n\r\n`, code: 'DP_BAD_HEADER', streamed: `${CHUNKED}0\r\nX: ` },
  { name: 'Content-Length trailer', input: `${CHUNKED}0\r\nContent-Length: 5\r\n\r\n`, code: 'DP_AMBIGUOUS_LENGTH', streamed: `${CHUNKED}0\r\nContent-Length` },
  { name: 'Transfer-Encoding trailer', input: `${CHUNKED}1\r\nx\r\n0\r\nX: 1\r\ntransfer-ENCODING:chunked\r\n\r\n`, code: 'DP_BAD_TRANSFER_ENCODING', streamed: `${CHUNKED}1\r\nx\r\n0\r\nX: 1\r\ntransfer-ENCODING` },
  { name: 'bare LF in a trailer', input: `${CHUNKED}0\r\nX: a\nY: b\r\n\r\n`, code: 'DP_BAD_HEADER', streamed: `${CHUNKED}0\r\nX: a` },
  // Responses.
  { name: 'status line without a status', input: 'HTTP/1.1 OK\r\n\r\n', code: 'DP_BAD_REQUEST_LINE', response: true },
  { name: 'two-digit status', input: 'HTTP/1.1 20 OK\r\n\r\n', code: 'DP_BAD_REQUEST_LINE', response: true },
  { name: 'status below 100', input: 'HTTP/1.1 099 Huh\r\n\r\n', code: 'DP_BAD_REQUEST_LINE', response: true },
  { name: 'four-digit status', input: 'HTTP/1.1 2000 OK\r\n\r\n', code: 'DP_BAD_REQUEST_LINE', response: true },
  { name: 'control byte in the reason', input: 'HTTP/1.1 200 O\x01K\r\n\r\n', code: 'DP_BAD_REQUEST_LINE', response: true },
  { name: 'HTTP/2.0 status line', input: 'HTTP/2.0 200 OK\r\n\r\n', code: 'DP_BAD_REQUEST_LINE', response: true },
  { name: 'response CL.TE', input: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', code: 'DP_AMBIGUOUS_LENGTH', response: true },
  { name: 'response duplicate Content-Length', input: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', code: 'DP_BAD_CONTENT_LENGTH', response: true },
  { name: 'response Transfer-Encoding chunked followed by a tab', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n', code: 'DP_BAD_TRANSFER_ENCODING', response: true },
  { name: 'response Content-Length trailer', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 0\r\n\r\n', code: 'DP_AMBIGUOUS_LENGTH', response: true, streamed: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length' },
  { name: 'response Transfer-Encoding gzip', input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc', code: 'DP_BAD_TRANSFER_ENCODING', response: true },
  { name: 'response obs-fold', input: 'HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\nContent-Length: 0\r\n\r\n', code: 'DP_OBS_FOLD', response: true },
  { name: 'response bare LF', input: 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', code: 'DP_BAD_REQUEST_LINE', response: true },
  { name: '204 with an invalid Content-Length', input: 'HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n', code: 'DP_BAD_CONTENT_LENGTH', response: true },
];

describe('rejections', () => {
  const requestPrefix = 'POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi';
  const responsePrefix = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi';

  for (const rejection of REJECTIONS) {
    test(`${rejection.name}: ${rejection.code}, nothing of the message forwarded`, () => {
      const asked = rejection.response ? [GET, GET] : undefined;
      const alone = frameEveryWay(rejection.input, { asked });
      const streamed = rejection.streamed ?? '';
      const errorLine = `error ${rejection.code} @${streamed.length}`;
      assert.deepEqual(alone.log.slice(alone.log.indexOf(errorLine)), [errorLine, 'end → false']);
      assert.equal(alone.data, streamed);
      if (rejection.streamed === undefined) {
        assert.deepEqual(alone.log, [errorLine, 'end → false']);
      } else {
        assert.ok(alone.log[0].startsWith('head '), 'the head of a message refused in its body was valid');
      }

      // After a complete message in the same bytes: that message is forwarded whole, nothing of this one.
      const prefix = rejection.response ? responsePrefix : requestPrefix;
      const after = frameEveryWay(prefix + rejection.input, { asked });
      const afterError = `error ${rejection.code} @${prefix.length + streamed.length}`;
      assert.deepEqual(after.log.slice(0, 2), [`head ${prefix.slice(0, prefix.indexOf('\r\n'))} length:2 @0`, `complete @${prefix.length}`]);
      assert.deepEqual(after.log.slice(-2), [afterError, 'end → false']);
      assert.equal(after.data, prefix + streamed);
    });
  }

  test('after a rejection nothing more is framed or forwarded', () => {
    const out: Buffer[] = [];
    const errors: string[] = [];
    const framer = new RequestFramer(
      { onHead: () => undefined, onData: (b) => out.push(b), onMessageComplete: () => CONTINUE, onError: (code) => errors.push(code) },
      LIMITS,
    );
    framer.push(bytes(`${H}X: a\x00\r\n\r\n`));
    framer.push(bytes(GET));
    assert.deepEqual(errors, ['DP_BAD_HEADER']);
    assert.equal(out.length, 0);
    assert.equal(framer.end(), false);
  });
});

describe('character classes', () => {
  const TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

  test('a header name byte is accepted exactly when it is a tchar', () => {
    for (let c = 0; c < 256; c++) {
      if (c === 0x0a || c === 0x3a) continue; // LF ends the line, ':' ends the name
      const input = `${H}X${String.fromCharCode(c)}Y: 1\r\n\r\n`;
      const { log } = frameEveryWay(input);
      const ok = TCHAR.includes(String.fromCharCode(c));
      assert.equal(log[0].startsWith('head '), ok, `byte 0x${c.toString(16)} in a name: ${log[0]}`);
    }
  });

  test('a header value byte is accepted exactly when it is VCHAR, obs-text, SP or HTAB', () => {
    for (let c = 0; c < 256; c++) {
      if (c === 0x0a) continue;
      const input = `${H}X: a${String.fromCharCode(c)}b\r\n\r\n`;
      const { log } = frameEveryWay(input);
      const ok = c === 0x09 || (c >= 0x20 && c <= 0x7e) || c >= 0x80;
      assert.equal(log[0].startsWith('head '), ok, `byte 0x${c.toString(16)} in a value: ${log[0]}`);
    }
  });
});
