/**
 * Header translation between HTTP/2 and the upstream: hop-by-hop fields never
 * cross (node:http2 throws on them: nodejs #23748), fields named by
 * `Connection` neither, pseudo-headers only where they mean something.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:http2';
import { once } from 'node:events';
import { CONTINUE, ResponseFramer } from '../../src/http1/framer.ts';
import type { MessageHead } from '../../src/http1/head.ts';
import {
  BODY_AS_SENT, BODY_CHUNKED, BODY_EMPTY, fieldValue, forwardsTrailers, fromH2Response, h2RequestHeaderList, h2ResponseHeaderList, h2ResponseHeaders,
  h2Trailers, headerListSize, http1RequestHead, requestBodyFraming, type Forwarding,
} from '../../src/h2/headers.ts';
import { LIMITS } from '../helpers/framing.ts';
import { llhttpParse } from '../helpers/llhttp-oracle.ts';

/** The head the response framer makes of `raw` (a complete response head to a GET). */
function responseHead(raw: string): MessageHead {
  let head: MessageHead | undefined;
  const framer = new ResponseFramer({
    onHead: (h) => {
      head = h;
      return undefined;
    },
    onData: () => {},
    onMessageComplete: () => CONTINUE,
    onError: (code) => assert.fail(`${code}: ${raw}`),
  }, LIMITS);
  framer.expect({ method: 'GET', upgrade: false });
  framer.push(Buffer.from(raw, 'latin1'));
  assert.ok(head !== undefined);
  return head;
}

/** http1RequestHead over a headers object, read back by llhttp: its header fields as an object (repeats joined as node:http does not: by \n). */
function http1RequestHeaders(headers: Record<string, string>, forwarding: Forwarding | null): Record<string, string> {
  const head = http1RequestHead(Object.entries({ ':method': 'GET', ':path': '/', ...headers }).flat(), forwarding, BODY_AS_SENT);
  assert.ok(head !== undefined);
  const parsed = llhttpParse('request', [Buffer.from(head, 'latin1')]);
  assert.equal(parsed.error, null);
  const fields = parsed.messages[0].headers;
  const out: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) out[fields[i]] = out[fields[i]] === undefined ? fields[i + 1] : `${out[fields[i]]}\n${fields[i + 1]}`;
  return out;
}

/** h2RequestHeaderList over a headers object: the client's list is the object's entries in order. */
function h2RequestHeaders(headers: Record<string, string>, forwarding: Forwarding | null): Record<string, string> {
  const list = h2RequestHeaderList(Object.entries(headers).flat(), forwarding);
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) {
    assert.equal(out[list[i]], undefined, `${list[i]} appears once`);
    out[list[i]] = list[i + 1];
  }
  return out;
}

test('HTTP/1.1 response heads as HTTP/2 header lists: :status first, hop-by-hop fields and those Connection names dropped, repeats kept in order', () => {
  const head = responseHead(
    'HTTP/1.1 201 Created\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n'
    + 'Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Private: secret\r\nContent-Type:  text/plain \t\r\n'
    + 'Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-Empty:\r\nX-Latin1: caf\xe9\r\n\r\n',
  );
  assert.deepEqual(h2ResponseHeaders(head), [
    ':status', '201', 'content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-empty', '', 'x-latin1', 'caf\xe9',
  ]);
  assert.deepEqual(h2ResponseHeaders(responseHead('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n')), [':status', '200', 'content-length', '2']);
});

test('chunked trailers as HTTP/2 trailers: an object, repeats as arrays, hop-by-hop fields dropped', () => {
  const trailers = h2Trailers(Buffer.from('X-Digest: 42\r\nGrpc-Status:0\r\nx-digest: 43\r\nConnection: x-gone\r\nX-Gone: 1\r\nConstructor: c\r\n', 'latin1'));
  assert.equal(Object.getPrototypeOf(trailers), null, 'no prototype: `constructor` is a field like any other');
  assert.deepEqual({ ...trailers }, {
    'x-digest': ['42', '43'],
    'grpc-status': '0',
    constructor: 'c',
  });
});

test('the translated headers are accepted by node:http2 (no ERR_HTTP2_INVALID_CONNECTION_HEADERS), repeated single-value fields too', async () => {
  const server = createServer({ strictSingleValueFields: false });
  const raw = 'HTTP/1.1 200 OK\r\nConnection: close\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nX-Ok: yes\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n';
  let untranslated: string | undefined;
  server.on('stream', (stream) => {
    try {
      stream.respond({ ':status': 200, connection: 'close', 'transfer-encoding': 'chunked' });
    } catch (err) {
      untranslated = (err as NodeJS.ErrnoException).code;
    }
    stream.respond(h2ResponseHeaders(responseHead(raw)));
    stream.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const session = connect(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
  const stream = session.request({ ':path': '/' });
  const [headers, , rawHeaders] = await once(stream, 'response');
  assert.equal(headers[':status'], 200);
  assert.equal(headers['x-ok'], 'yes');
  assert.deepEqual((rawHeaders as string[]).filter((_, i, list) => list[i - 1] === 'content-type'), ['a/b', 'c/d'], 'both Content-Type fields went out');
  stream.resume();
  await once(stream, 'close');
  session.close();
  server.close();
  assert.equal(untranslated, 'ERR_HTTP2_INVALID_CONNECTION_HEADERS', 'what happens without the translation (nodejs #23748)');
});

test('requests to an HTTP/1.1 app: the request line from the pseudo-headers, :authority becomes Host, hop-by-hop dropped, cookie crumbs joined, X-Forwarded-For appended', () => {
  const raw = [':method', 'POST', ':path', '/x?y=1', ':scheme', 'http', ':authority', 'svc:8000', 'te', 'trailers', 'x-forwarded-for', '10.0.0.1', 'cookie', 'a=1', 'content-type', 'a/b', 'cookie', 'b=2', 'content-length', '3'];
  assert.equal(
    http1RequestHead(raw, { clientAddress: '127.0.0.1', scheme: 'http', trustedPeer: true }, BODY_AS_SENT),
    'POST /x?y=1 HTTP/1.1\r\nhost: svc:8000\r\ncontent-type: a/b\r\ncontent-length: 3\r\ncookie: a=1; b=2\r\nx-forwarded-for: 10.0.0.1, 127.0.0.1\r\nx-forwarded-proto: http\r\n\r\n',
  );
  assert.equal(http1RequestHeaders({ ':authority': 'a', host: 'b' }, null).host, 'b', 'an explicit Host wins');
  assert.equal(http1RequestHead([':method', 'POST', ':path', '/'], null, BODY_CHUNKED), 'POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n');
  assert.equal(http1RequestHead([':method', 'PUT', ':path', '/'], null, BODY_EMPTY), 'PUT / HTTP/1.1\r\ncontent-length: 0\r\n\r\n');
});

test('the body framing of a translated request: the client\'s Content-Length, else chunked, else (no body) Content-Length: 0 where the method usually has a body', () => {
  assert.equal(requestBodyFraming('POST', true, '12'), BODY_AS_SENT);
  assert.equal(requestBodyFraming('POST', true, undefined), BODY_CHUNKED);
  assert.equal(requestBodyFraming('GET', true, undefined), BODY_CHUNKED);
  assert.equal(requestBodyFraming('POST', false, undefined), BODY_EMPTY);
  assert.equal(requestBodyFraming('PATCH', false, undefined), BODY_EMPTY);
  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE']) assert.equal(requestBodyFraming(method, false, undefined), BODY_AS_SENT, method);
});

test('a request that cannot be written as HTTP/1.1 is refused, whatever nghttp2 let through', () => {
  const base = [':method', 'GET', ':path', '/', ':authority', 'a'];
  for (const raw of [
    [':method', 'GET', ':path', '/a b'],
    [':method', 'GET', ':path', '/\r\nX: y'],
    [':method', 'GET', ':path', ''],
    [':method', 'G T', ':path', '/'],
    [':method', 'GET', ':path', '/', ':authority', 'a\r\nx: y'],
    [...base, 'x-a', 'v\r\nx-b: w'],
    [...base, 'x-a', 'v\nw'],
    [...base, 'x-a', 'v\0'],
    [...base, 'X-Upper', 'v'],
    [...base, 'x a', 'v'],
    [...base, '', 'v'],
  ]) {
    assert.equal(http1RequestHead(raw, null, BODY_AS_SENT), undefined, JSON.stringify(raw));
  }
  assert.ok(http1RequestHead([...base, 'x-a', 'tab\there, caf\xe9'], null, BODY_AS_SENT)?.includes('x-a: tab\there, caf\xe9\r\n'), 'HTAB and obs-text are field-value bytes');
});

test('X-Forwarded-Proto: a trusted peer\'s is passed on, an untrusted peer\'s replaced with http, in both upstream protocols', () => {
  for (const translate of [http1RequestHeaders, h2RequestHeaders]) {
    const claims = { ':method': 'GET', ':path': '/', ':authority': 'a', 'x-forwarded-proto': 'https' };
    assert.equal(translate(claims, { clientAddress: '10.1.2.3', scheme: 'http', trustedPeer: true })['x-forwarded-proto'], 'https');
    assert.equal(translate(claims, { clientAddress: '203.0.113.5', scheme: 'http', trustedPeer: false })['x-forwarded-proto'], 'http');
    assert.equal(translate(claims, { clientAddress: '203.0.113.5', scheme: 'http', trustedPeer: false })['x-forwarded-for'], '203.0.113.5');
    assert.equal(translate(claims, null)['x-forwarded-proto'], 'https', 'FORWARDED_HEADERS=off passes it untouched');
  }
});

test('requests to an h2c app: pseudo-headers and `te: trailers` kept (gRPC needs it), other TE values dropped', () => {
  const out = h2RequestHeaders({ ':method': 'POST', ':path': '/svc/M', ':scheme': 'http', ':authority': 'a', te: 'trailers', 'content-type': 'application/grpc' }, null);
  assert.deepEqual(out, { ':method': 'POST', ':path': '/svc/M', ':scheme': 'http', ':authority': 'a', te: 'trailers', 'content-type': 'application/grpc' });
  assert.equal(h2RequestHeaders({ te: 'gzip' }, null).te, undefined);
  assert.deepEqual(
    h2RequestHeaderList([':method', 'GET', 'x-forwarded-for', '10.0.0.1', 'connection', 'x', 'x-forwarded-for', '10.0.0.2', 'cookie', 'a=1', 'cookie', 'b=2'], { clientAddress: '127.0.0.1', scheme: 'http', trustedPeer: false }),
    [':method', 'GET', 'cookie', 'a=1', 'cookie', 'b=2', 'x-forwarded-for', '10.0.0.1, 10.0.0.2, 127.0.0.1', 'x-forwarded-proto', 'http'],
    'repeated X-Forwarded-For fields joined and appended to; other repeated fields (cookie crumbs) passed on as they came',
  );
  assert.deepEqual({ ...fromH2Response({ ':status': 200, 'grpc-status': '0', connection: 'x' } as never) }, { ':status': 200, 'grpc-status': '0' });
});

test('headerListSize counts each field as name + value + 32 octets (SETTINGS_MAX_HEADER_LIST_SIZE)', () => {
  const raw = [':method', 'GET', ':path', '/', 'x-a', 'b'.repeat(50)];
  const size = (7 + 3 + 32) + (5 + 1 + 32) + (3 + 50 + 32);
  assert.equal(headerListSize(raw), size);
  assert.equal(headerListSize([]), 0);
});

test('response trailers are waited for when the client takes them (te: trailers), the response announces them or is gRPC', () => {
  assert.equal(forwardsTrailers('trailers', undefined, 'text/plain'), true);
  assert.equal(forwardsTrailers(undefined, 'x-digest', 'text/plain'), true);
  assert.equal(forwardsTrailers(undefined, undefined, 'application/grpc'), true);
  assert.equal(forwardsTrailers(undefined, undefined, 'application/grpc+proto'), true);
  assert.equal(forwardsTrailers(undefined, undefined, 'text/plain'), false);
  assert.equal(forwardsTrailers(undefined, undefined, undefined), false);
  assert.equal(fieldValue(['content-type', 'a/b', 'trailer', 'x'], 'trailer'), 'x');
  assert.equal(fieldValue(['content-type', 'a/b'], 'trailer'), undefined);
});

test('an h2c response header list goes to node:http2 as it came (the same array) unless it holds a connection-specific field', () => {
  const raw = [':status', '200', 'content-type', 'a/b', 'set-cookie', 'a', 'set-cookie', 'b'];
  assert.equal(h2ResponseHeaderList(raw), raw);
  assert.deepEqual(h2ResponseHeaderList([':status', '200', 'connection', 'x', 'x-a', '1', 'keep-alive', '5']), [':status', '200', 'x-a', '1']);
});
