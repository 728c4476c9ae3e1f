/**
 * Header translation between HTTP/2 and the upstream: hop-by-hop fields never
 * cross (node:http2 throws on them: nodejs #23748), fields named by
 * `Connection` neither, pseudo-headers only where they mean something.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:http2';
import { once } from 'node:events';
import { fromH2Response, fromHttp1Response, h2RequestHeaderList, headerListSize, http1RequestHeaders, type Forwarding } from '../../src/h2/headers.ts';

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

test('HTTP/1.1 response headers lose hop-by-hop fields and those Connection names; end-to-end ones stay', () => {
  const out = fromHttp1Response({
    connection: 'keep-alive, X-Private',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    upgrade: 'h2c',
    'proxy-connection': 'keep-alive',
    'x-private': 'secret',
    'content-type': 'text/plain',
    'set-cookie': ['a=1', 'b=2'],
  });
  assert.deepEqual(out, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
});

test('the translated headers are accepted by node:http2 (no ERR_HTTP2_INVALID_CONNECTION_HEADERS)', async () => {
  const server = createServer();
  const raw = { connection: 'close', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'x-ok': 'yes' };
  let untranslated: string | undefined;
  server.on('stream', (stream) => {
    try {
      stream.respond({ ':status': 200, ...raw });
    } catch (err) {
      untranslated = (err as NodeJS.ErrnoException).code;
    }
    stream.respond({ ':status': 200, ...fromHttp1Response(raw) });
    stream.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const session = connect(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
  const stream = session.request({ ':path': '/' });
  const [headers] = await once(stream, 'response');
  assert.equal(headers[':status'], 200);
  assert.equal(headers['x-ok'], 'yes');
  stream.resume();
  await once(stream, 'close');
  session.close();
  server.close();
  assert.equal(untranslated, 'ERR_HTTP2_INVALID_CONNECTION_HEADERS', 'what happens without the translation (nodejs #23748)');
});

test('requests to an HTTP/1.1 app: no pseudo-headers, :authority becomes Host, hop-by-hop dropped, X-Forwarded-For appended', () => {
  const out = http1RequestHeaders(
    { ':method': 'POST', ':path': '/x', ':scheme': 'http', ':authority': 'svc:8000', te: 'trailers', 'x-forwarded-for': '10.0.0.1', 'content-type': 'a/b' },
    { clientAddress: '127.0.0.1', trustedPeer: true },
  );
  assert.deepEqual(out, { host: 'svc:8000', 'x-forwarded-for': '10.0.0.1, 127.0.0.1', 'x-forwarded-proto': 'http', 'content-type': 'a/b' });
  assert.equal(http1RequestHeaders({ ':authority': 'a', host: 'b' }, null).host, 'b', 'an explicit Host wins');
});

test('X-Forwarded-Proto: a trusted peer\'s is passed on, an untrusted peer\'s replaced with http, in both upstream protocols', () => {
  for (const translate of [http1RequestHeaders, h2RequestHeaders]) {
    const claims = { ':method': 'GET', ':path': '/', ':authority': 'a', 'x-forwarded-proto': 'https' };
    assert.equal(translate(claims, { clientAddress: '10.1.2.3', trustedPeer: true })['x-forwarded-proto'], 'https');
    assert.equal(translate(claims, { clientAddress: '203.0.113.5', trustedPeer: false })['x-forwarded-proto'], 'http');
    assert.equal(translate(claims, { clientAddress: '203.0.113.5', trustedPeer: false })['x-forwarded-for'], '203.0.113.5');
    assert.equal(translate(claims, null)['x-forwarded-proto'], 'https', 'FORWARDED_HEADERS=off passes it untouched');
  }
});

test('requests to an h2c app: pseudo-headers and `te: trailers` kept (gRPC needs it), other TE values dropped', () => {
  const out = h2RequestHeaders({ ':method': 'POST', ':path': '/svc/M', ':scheme': 'http', ':authority': 'a', te: 'trailers', 'content-type': 'application/grpc' }, null);
  assert.deepEqual(out, { ':method': 'POST', ':path': '/svc/M', ':scheme': 'http', ':authority': 'a', te: 'trailers', 'content-type': 'application/grpc' });
  assert.equal(h2RequestHeaders({ te: 'gzip' }, null).te, undefined);
  assert.deepEqual(
    h2RequestHeaderList([':method', 'GET', 'x-forwarded-for', '10.0.0.1', 'connection', 'x', 'x-forwarded-for', '10.0.0.2', 'cookie', 'a=1', 'cookie', 'b=2'], { clientAddress: '127.0.0.1', trustedPeer: false }),
    [':method', 'GET', 'cookie', 'a=1', 'cookie', 'b=2', 'x-forwarded-for', '10.0.0.1, 10.0.0.2, 127.0.0.1', 'x-forwarded-proto', 'http'],
    'repeated X-Forwarded-For fields joined and appended to; other repeated fields (cookie crumbs) passed on as they came',
  );
  assert.deepEqual(fromH2Response({ ':status': 200, 'grpc-status': '0', connection: 'x' } as never), { ':status': 200, 'grpc-status': '0' });
});

test('headerListSize counts each field as name + value + 32 octets (SETTINGS_MAX_HEADER_LIST_SIZE)', () => {
  const raw = [':method', 'GET', ':path', '/', 'x-a', 'b'.repeat(50)];
  const size = (7 + 3 + 32) + (5 + 1 + 32) + (3 + 50 + 32);
  assert.equal(headerListSize(raw), size);
  assert.equal(headerListSize([]), 0);
});
