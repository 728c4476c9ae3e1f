/**
 * What the framer learns from a head (MessageHead, head.ts) and the two
 * rewrites the proxy makes to heads (head-rewrite.ts). Heads are framed as
 * one chunk, after another message in the same chunk, and split at every
 * offset: the facts, and the rewrites computed from them, must not depend on
 * how the bytes arrived.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CONTINUE, type FramerSink, type MessageFramer, RequestFramer, ResponseFramer } from '../../src/http1/framer.ts';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  type MessageHead,
} from '../../src/http1/head.ts';
import { withConnectionClose, withForwarded } from '../../src/http1/head-rewrite.ts';

const LIMITS = { maxHeaderSize: 16384, maxHeaderCount: 100 };
const GET = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
const PREFIX_REQUEST = 'GET /before HTTP/1.1\r\nHost: a\r\n\r\n';
const PREFIX_RESPONSE = 'HTTP/1.1 204 No Content\r\n\r\n';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

interface Framed {
  head: MessageHead;
  /** What the sink's rewrite returned for it, if any. */
  rewritten: string | undefined;
  /** All bytes forwarded. */
  forwarded: string;
}

/**
 * Frames the chunks and returns the last head seen. `response` is false for
 * requests, or the request (raw) that each response answers.
 */
function frameOnce(chunks: readonly Buffer[], response: string | false, rewrite?: (head: MessageHead) => Buffer | undefined): Framed {
  const heads: MessageHead[] = [];
  const out: Buffer[] = [];
  let rewritten: string | undefined;
  const sink: FramerSink = {
    onHead(head) {
      heads.push(head);
      const replacement = rewrite?.(head);
      if (replacement !== undefined) rewritten = replacement.toString('latin1');
      return replacement;
    },
    onData: (b) => out.push(b),
    onMessageComplete: () => CONTINUE,
    onError: (code) => assert.fail(`refused: ${code}`),
  };
  let framer: MessageFramer;
  if (response !== false) {
    const responses = new ResponseFramer(sink, LIMITS);
    const ask = new RequestFramer(
      {
        onHead: (h) => {
          responses.expect(h);
          responses.expect(h);
          return undefined;
        },
        onData: () => {},
        onMessageComplete: () => CONTINUE,
        onError: (code) => assert.fail(code),
      },
      LIMITS,
    );
    ask.push(bytes(response));
    framer = responses;
  } else {
    framer = new RequestFramer(sink, LIMITS);
  }
  for (const chunk of chunks) framer.push(chunk);
  const head = heads.at(-1);
  assert.ok(head !== undefined, 'no head framed');
  return { head, rewritten, forwarded: Buffer.concat(out).toString('latin1') };
}

/** The facts a test compares: everything but the bytes' identity. */
function facts(head: MessageHead): Record<string, unknown> {
  return {
    bytes: head.bytes.toString('latin1'),
    isRequest: head.isRequest,
    method: head.method,
    status: head.status,
    versionMinor: head.versionMinor,
    keepAlive: head.keepAlive,
    upgrade: head.upgrade,
    upgradeProtocol: head.upgradeProtocol,
    body: head.body,
    contentLength: head.contentLength,
    hopLines: head.hopLines,
    forwardedForEnd: head.forwardedForEnd,
    hasForwardedProto: head.hasForwardedProto,
  };
}

/**
 * Frames `raw` alone and after another message, as one chunk and split at
 * every offset; asserts all agree on the head's facts and on the rewrite.
 */
function headOf(
  raw: string,
  options: { response?: boolean; answering?: string; rewrite?: (head: MessageHead) => Buffer | undefined } = {},
): Framed {
  const response = options.response === true ? (options.answering ?? GET) : false;
  const alone = frameOnce([bytes(raw)], response, options.rewrite);
  const expected = { facts: facts(alone.head), rewritten: alone.rewritten };
  const prefix = response === false ? PREFIX_REQUEST : PREFIX_RESPONSE;
  for (const input of [raw, prefix + raw]) {
    const buffer = bytes(input);
    for (let i = 0; i < buffer.length; i++) {
      const chunks = i === 0 ? [Buffer.from(buffer)] : [Buffer.from(buffer.subarray(0, i)), Buffer.from(buffer.subarray(i))];
      const framed = frameOnce(chunks, response, options.rewrite);
      assert.deepEqual(
        { facts: facts(framed.head), rewritten: framed.rewritten },
        expected,
        `${JSON.stringify(input)} split at ${i}`,
      );
    }
  }
  return alone;
}

describe('MessageHead', () => {
  test('request line: method and version', () => {
    const head = headOf('OPTIONS * HTTP/1.0\r\n\r\n').head;
    assert.equal(head.isRequest, true);
    assert.equal(head.method, 'OPTIONS');
    assert.equal(head.versionMinor, 0);
    assert.equal(head.status, 0);
    const m = headOf('M-SEARCH /x?y=z#f HTTP/1.1\r\nHost: h\r\n\r\n').head;
    assert.equal(m.method, 'M-SEARCH');
    assert.equal(m.versionMinor, 1);
  });

  test('status line: status, with or without a reason', () => {
    for (const [line, status] of [
      ['HTTP/1.1 200 OK', 200],
      ['HTTP/1.1 404', 404],
      ['HTTP/1.1 500 ', 500],
      ['HTTP/1.0 302 Found \tit\x80', 302],
      ['HTTP/1.1 999 Custom', 999],
    ] as const) {
      const head = headOf(`${line}\r\nContent-Length: 0\r\n\r\n`, { response: true }).head;
      assert.equal(head.isRequest, false);
      assert.equal(head.status, status, line);
      assert.equal(head.method, '');
    }
  });

  test('keep-alive follows the version and every Connection token', () => {
    const cases: Array<[string, string, boolean]> = [
      ['1.1', '', true],
      ['1.1', 'Connection: close\r\n', false],
      ['1.1', 'Connection: CLOSE\r\n', false],
      ['1.1', 'Connection: keep-alive, close\r\n', false],
      ['1.1', 'Connection: foo,close ,bar\r\n', false],
      ['1.1', 'Connection: keep-alive\r\nConnection: close\r\n', false],
      ['1.1', 'Connection: closed\r\n', true],
      ['1.1', 'Connection: \r\n', true],
      ['1.0', '', false],
      ['1.0', 'Connection: keep-alive\r\n', true],
      ['1.0', 'Connection: Keep-Alive\r\nKeep-Alive: timeout=5\r\n', true],
      ['1.0', 'Connection: keep-alive\r\nConnection: close\r\n', false],
      // Node keeps this one alive; closing is the safe reading of a contradiction.
      ['1.0', 'Connection: keep-alive, close\r\n', false],
    ];
    for (const [version, lines, keepAlive] of cases) {
      const raw = `GET / HTTP/${version}\r\nHost: a\r\n${lines}\r\n`;
      assert.equal(headOf(raw).head.keepAlive, keepAlive, raw);
    }
  });

  test('upgrade needs both an Upgrade header and the upgrade Connection token', () => {
    const cases: Array<[string, boolean, string]> = [
      ['Connection: Upgrade\r\nUpgrade: WebSocket\r\n', true, 'websocket'],
      ['Upgrade: h2c\r\nConnection: keep-alive, upgrade\r\n', true, 'h2c'],
      ['Connection: close\r\nConnection: upgrade\r\nUpgrade: websocket\r\n', true, 'websocket'],
      ['Upgrade: websocket\r\n', false, 'websocket'],
      ['Connection: upgrade\r\n', false, ''],
      ['Connection: upgrades\r\nUpgrade: websocket\r\n', false, 'websocket'],
    ];
    for (const [lines, upgrade, protocol] of cases) {
      const head = headOf(`GET /ws HTTP/1.1\r\nHost: a\r\n${lines}\r\n`).head;
      assert.equal(head.upgrade, upgrade, lines);
      assert.equal(head.upgradeProtocol, protocol, lines);
    }
  });

  test('a response is an upgrade exactly when it is 101', () => {
    const answering = 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const switching = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    const head = headOf(switching, { response: true, answering }).head;
    assert.equal(head.upgrade, true);
    assert.equal(head.body, BODY_NONE);
    const refused = headOf('HTTP/1.1 400 Bad Request\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n', {
      response: true,
      answering,
    }).head;
    assert.equal(refused.upgrade, false);
  });

  test('request body kinds', () => {
    const cases: Array<[string, number, number]> = [
      ['', BODY_NONE, 0],
      ['Content-Length: 0\r\n', BODY_NONE, 0],
      ['Content-Length: 000\r\n', BODY_NONE, 0],
      ['Content-Length: 12\r\n', BODY_LENGTH, 12],
      ['Content-Length:\t0012 \r\n', BODY_LENGTH, 12],
      ['Content-Length: 999999999999999\r\n', BODY_LENGTH, 999999999999999],
      ['Transfer-Encoding: chunked\r\n', BODY_CHUNKED, 0],
      ['transfer-encoding:\t CHUNKED  \r\n', BODY_CHUNKED, 0],
    ];
    for (const [lines, body, length] of cases) {
      const head = headOf(`POST / HTTP/1.1\r\nHost: a\r\n${lines}\r\n`).head;
      assert.equal(head.body, body, lines);
      assert.equal(head.contentLength, length, lines);
    }
  });

  test('response body kinds', () => {
    const cases: Array<[string, number, boolean]> = [
      ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\n', BODY_LENGTH, true],
      ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n', BODY_NONE, true],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n', BODY_CHUNKED, true],
      ['HTTP/1.1 200 OK\r\n', BODY_UNTIL_CLOSE, false],
      ['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n', BODY_UNTIL_CLOSE, false],
      ['HTTP/1.1 204 No Content\r\n', BODY_NONE, true],
      ['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n', BODY_NONE, true],
    ];
    for (const [lines, body, keepAlive] of cases) {
      const head = headOf(`${lines}\r\n`, { response: true }).head;
      assert.equal(head.body, body, lines);
      assert.equal(head.keepAlive, keepAlive, lines);
    }
  });

  test('hopLines locate every Connection and Keep-Alive line, CRLF included, in head.bytes', () => {
    const raw =
      'GET / HTTP/1.1\r\nHost: a\r\nconnection: keep-alive\r\nAccept: */*\r\nKeep-Alive: timeout=5\r\nCONNECTION:close\r\nX-Connection: no\r\n\r\n';
    const { head } = headOf(raw);
    const lines: string[] = [];
    for (let i = 0; i < head.hopLines.length; i += 2) lines.push(head.bytes.toString('latin1', head.hopLines[i], head.hopLines[i + 1]));
    assert.deepEqual(lines, ['connection: keep-alive\r\n', 'Keep-Alive: timeout=5\r\n', 'CONNECTION:close\r\n']);
  });

  test('X-Forwarded-For and X-Forwarded-Proto are noticed', () => {
    const none = headOf('GET / HTTP/1.1\r\nHost: a\r\n\r\n').head;
    assert.equal(none.forwardedForEnd, -1);
    assert.equal(none.hasForwardedProto, false);
    const raw = 'GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 10.0.0.1 \r\nX-Forwarded-Proto: https\r\n\r\n';
    const head = headOf(raw).head;
    assert.equal(head.bytes.toString('latin1', 0, head.forwardedForEnd), 'GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 10.0.0.1');
    assert.equal(head.hasForwardedProto, true);
  });
});

describe('withConnectionClose', () => {
  const rewrite = (head: MessageHead): Buffer => withConnectionClose(head);

  test('drops every Connection and Keep-Alive line and ends the head with Connection: close', () => {
    const raw =
      'POST /x HTTP/1.1\r\nHost: a\r\nconnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nKeep-Alive: timeout=5\r\nContent-Length: 3\r\nCONNECTION: foo\r\n\r\n';
    const { rewritten, head } = headOf(raw, { rewrite });
    assert.equal(
      rewritten,
      'POST /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nContent-Length: 3\r\nConnection: close\r\n\r\n',
    );
    assert.equal(head.bytes.toString('latin1'), raw, 'the received head is left as it was');
  });

  test('a head without such lines gains one', () => {
    const { rewritten } = headOf('GET / HTTP/1.1\r\nHost: a\r\n\r\n', { rewrite });
    assert.equal(rewritten, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  });

  test('responses too; the result frames the same, not kept alive', () => {
    const raw = 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n';
    const { rewritten } = headOf(raw, { response: true, rewrite });
    assert.equal(rewritten, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
    const again = frameOnce([bytes(rewritten ?? '')], GET).head;
    assert.equal(again.keepAlive, false);
    assert.equal(again.body, BODY_CHUNKED);
  });
});

describe('withForwarded', () => {
  const rewriteFrom = (address: string, trustedPeer = true, scheme: 'http' | 'https' = 'http') => (head: MessageHead): Buffer => withForwarded(head, address, scheme, trustedPeer);

  test('adds X-Forwarded-For and X-Forwarded-Proto when absent', () => {
    const { rewritten } = headOf('GET / HTTP/1.1\r\nHost: a\r\n\r\n', { rewrite: rewriteFrom('192.0.2.7') });
    assert.equal(rewritten, 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n\r\n');
    const overTls = headOf('GET / HTTP/1.1\r\nHost: a\r\n\r\n', { rewrite: rewriteFrom('192.0.2.7', true, 'https') });
    assert.equal(overTls.rewritten, 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n', 'a TLS port says https');
    const untrusted = headOf('GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: http\r\n\r\n', { rewrite: rewriteFrom('192.0.2.7', false, 'https') });
    assert.equal(untrusted.rewritten, 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n', 'an untrusted peer\'s scheme is replaced by the one it came by');
  });

  test('appends to an existing X-Forwarded-For, before its trailing whitespace', () => {
    const raw = 'GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2 \t\r\nHost: a\r\n\r\n';
    const { rewritten } = headOf(raw, { rewrite: rewriteFrom('2001:db8::1') });
    assert.equal(
      rewritten,
      'GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2, 2001:db8::1 \t\r\nHost: a\r\nX-Forwarded-Proto: http\r\n\r\n',
    );
  });

  test('with several X-Forwarded-For lines, appends to the last (they form one list in order)', () => {
    const raw = 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\nX-Forwarded-Proto: https\r\n\r\n';
    const { rewritten } = headOf(raw, { rewrite: rewriteFrom('192.0.2.7') });
    assert.equal(
      rewritten,
      'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2, 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\r\n',
    );
  });

  test('an untrusted peer\'s X-Forwarded-Proto lines, every one, are replaced with http; X-Forwarded-For is still appended to', () => {
    const raw = 'GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-proto: wss\r\nAccept: */*\r\n\r\n';
    const { rewritten } = headOf(raw, { rewrite: rewriteFrom('192.0.2.7', false) });
    assert.equal(rewritten, 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1, 192.0.2.7\r\nAccept: */*\r\nX-Forwarded-Proto: http\r\n\r\n');
    const last = headOf('GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n', { rewrite: rewriteFrom('192.0.2.7', false) });
    assert.equal(last.rewritten, 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n\r\n');
    const trusted = headOf(raw, { rewrite: rewriteFrom('192.0.2.7', true) });
    assert.equal(trusted.rewritten, 'GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1, 192.0.2.7\r\nx-forwarded-proto: wss\r\nAccept: */*\r\n\r\n');
  });

  test('an empty X-Forwarded-For still ends with the client address', () => {
    const { rewritten } = headOf('GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:\r\n\r\n', { rewrite: rewriteFrom('192.0.2.7') });
    const line = (rewritten ?? '').split('\r\n').find((l) => l.startsWith('X-Forwarded-For:')) ?? '';
    const elements = line.slice('X-Forwarded-For:'.length).split(',').map((e) => e.trim()).filter((e) => e !== '');
    assert.deepEqual(elements, ['192.0.2.7']);
  });

  test('the rewritten request frames the same, body and all', () => {
    const raw = 'POST /u HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    const { forwarded } = headOf(raw, { rewrite: rewriteFrom('192.0.2.7') });
    const expected = 'POST /u HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1, 192.0.2.7\r\nTransfer-Encoding: chunked\r\nX-Forwarded-Proto: http\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    assert.equal(forwarded, expected);
    const again = frameOnce([bytes(expected)], false).head;
    assert.equal(again.body, BODY_CHUNKED);
    assert.equal(again.hasForwardedProto, true);
  });
});
