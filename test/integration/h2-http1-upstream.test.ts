/**
 * UPSTREAM_PROTOCOL=http1 through the real process: HTTP/2 streams from
 * node:http2 clients become HTTP/1.1 exchanges on the proxy's own pool of
 * connections to a raw TCP app, which records every byte it gets.
 *
 * - Differential: generated HTTP/2 requests (methods, targets, fields with
 *   every field-value byte, cookie crumbs, X-Forwarded-For chains, bodies
 *   with and without Content-Length, trailers), several at once on a session,
 *   answered with generated HTTP/1.1 responses (statuses, repeated fields,
 *   hop-by-hop fields, Content-Length, chunked with extensions and trailers,
 *   HEAD). What the app received is parsed by llhttp (Node's own parser, what
 *   the app most likely runs) and must be the request the client sent,
 *   translated; what the client received must be the app's response,
 *   translated.
 * - Connections: reused, one exchange at a time (nothing pipelined), an app
 *   closing idle keep-alive connections (and racing the next request), a
 *   response cut mid-body, backpressure both ways.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { constants, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { METHODS } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { CONTINUE, RequestFramer } from '../../src/http1/framer.ts';
import { startDrainProxy } from '../../harness/drain-proxy.ts';
import { eventually } from '../../harness/http.ts';
import { metricValue } from '../../harness/metrics.ts';
import { LIMITS } from '../helpers/framing.ts';
import { llhttpParse, type LlhttpMessage } from '../helpers/llhttp-oracle.ts';
import { h2session } from '../h2/client.ts';

const RUNS = Number.parseInt(process.env.FUZZ_RUNS ?? '', 10) || 60;

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// ---- a raw app: every byte recorded per connection, requests framed by the proxy's own framer ----

interface AppConnection {
  readonly socket: Socket;
  readonly chunks: Buffer[];
  requests: number;
  /** Request bytes that arrived while a response was owed: a pipelined request. */
  pipelined: number;
}

interface RawApp {
  readonly port: number;
  readonly connections: AppConnection[];
}

/** `answer(target, socket)` writes the response to the request for `target` (called once its last byte came). */
async function rawApp(answer: (target: string, connection: AppConnection) => void): Promise<RawApp> {
  const connections: AppConnection[] = [];
  const server: Server = createServer((socket) => {
    const connection: AppConnection = { socket, chunks: [], requests: 0, pipelined: 0 };
    connections.push(connection);
    let owed = false;
    let target = '';
    const framer = new RequestFramer({
      onHead: (head) => {
        target = head.bytes.toString('latin1').split(' ')[1];
        return undefined;
      },
      onData: () => {},
      onMessageComplete: () => {
        connection.requests++;
        owed = true;
        setImmediate(() => {
          owed = false;
          answer(target, connection);
        });
        return CONTINUE;
      },
      onError: (code) => {
        socket.end(`HTTP/1.1 400 Bad Request\r\nx-refused: ${code}\r\ncontent-length: 0\r\n\r\n`);
      },
    }, LIMITS);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (owed) connection.pipelined += chunk.length;
      connection.chunks.push(Buffer.from(chunk));
      framer.push(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  cleanups.push(() => new Promise((resolve) => {
    for (const { socket } of connections) socket.destroy();
    server.close(resolve);
  }));
  return { port: typeof address === 'object' && address !== null ? address.port : 0, connections };
}

/** Every request the app received, as llhttp reads each connection's bytes; fails on anything llhttp refuses. */
function received(app: RawApp): LlhttpMessage[] {
  const messages: LlhttpMessage[] = [];
  for (const connection of app.connections) {
    const parsed = llhttpParse('request', connection.chunks, { eof: false });
    assert.equal(parsed.error, null, `llhttp refused what the proxy sent: ${JSON.stringify(parsed.error)} in ${JSON.stringify(Buffer.concat(connection.chunks).toString('latin1'))}`);
    messages.push(...parsed.messages);
  }
  return messages;
}

interface Exchange {
  status: number | undefined;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  trailers: string[] | undefined;
  rstCode: number;
}

/** One stream: `body` as `writes` pieces (none: END_STREAM with the headers), then `trailers` if given. */
function send(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body: Buffer[] | null, trailers?: OutgoingHttpHeaders): Promise<Exchange> {
  return new Promise((resolve) => {
    const stream = session.request(headers, { endStream: body === null, waitForTrailers: trailers !== undefined });
    const result: Exchange = { status: undefined, headers: {}, rawHeaders: [], body: Buffer.alloc(0), trailers: undefined, rstCode: 0 };
    const chunks: Buffer[] = [];
    stream.on('response', (h, _flags, raw: string[]) => {
      result.status = Number(h[':status']);
      result.headers = h;
      result.rawHeaders = raw;
    });
    stream.on('trailers', (_t, _flags, raw: string[]) => (result.trailers = raw));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => {});
    if (trailers !== undefined) stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    stream.once('close', () => {
      result.body = Buffer.concat(chunks);
      result.rstCode = stream.rstCode ?? 0;
      resolve(result);
    });
    if (body !== null) {
      for (const piece of body) stream.write(piece);
      stream.end();
    }
  });
}

/** Field lists as name, value pairs (names lower-cased). */
function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i].toLowerCase(), flat[i + 1]]);
  return out;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

// ---- generated requests and responses ----

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz".split('');
const VALUE_CHARS = [' ', '\t', ...Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)), '\x80', '\xe9', '\xff'];
const EDGE_CHARS = VALUE_CHARS.filter((c) => c !== ' ' && c !== '\t');
const PATH_CHARS = "abcXYZ019-._~!$&'()*+,;=:@/?%".split('');

const token = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 });
/** A field value: field-value bytes, no whitespace at either end (nghttp2 refuses that, RFC 9113 §8.2.1). */
const value = fc.oneof(
  fc.constant(''),
  fc.tuple(fc.constantFrom(...EDGE_CHARS), fc.string({ unit: fc.constantFrom(...VALUE_CHARS), maxLength: 30 }), fc.constantFrom(...EDGE_CHARS))
    .map(([a, middle, b]) => a + middle + b),
);
// Names an object would trip over are fields like any other.
const fieldName = fc.oneof({ weight: 9, arbitrary: token }, { weight: 1, arbitrary: fc.constantFrom('constructor', '__proto__', 'tostring', 'valueof') }).filter((name) => !HOP_BY_HOP.has(name) && !['host', 'content-length', 'cookie', 'x-forwarded-for', 'x-forwarded-proto', 'http2-settings', 'trailer'].includes(name));

const requestArb = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', ...METHODS.filter((m) => /^[A-Z]+$/.test(m) && m !== 'CONNECT').slice(0, 6)),
  path: fc.string({ unit: fc.constantFrom(...PATH_CHARS), maxLength: 40 }),
  fields: fc.array(fc.tuple(fieldName, value), { maxLength: 8 }),
  cookies: fc.array(fc.string({ unit: fc.constantFrom(...'abc=1;'.split('')), minLength: 1, maxLength: 8 }).filter((c) => !c.startsWith(';') && !c.endsWith(';')), { maxLength: 3 }),
  forwardedFor: fc.array(fc.constantFrom('10.0.0.1', '192.0.2.7, 10.0.0.2', '2001:db8::1'), { maxLength: 2 }),
  host: fc.option(fc.constantFrom('app.internal', 'a:8080'), { nil: undefined }),
  body: fc.option(fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000 }).map((b) => Buffer.from(b)), { minLength: 1, maxLength: 3 }), { nil: null }),
  withLength: fc.boolean(),
  trailers: fc.option(fc.array(fc.tuple(fieldName, value), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  /** `te: trailers`: the client takes the response's trailers. */
  te: fc.boolean(),
});
type GeneratedRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

const STATUSES = [200, 201, 204, 206, 301, 304, 400, 404, 418, 500, 503];
const responseArb = fc.record({
  status: fc.constantFrom(...STATUSES),
  fields: fc.array(fc.tuple(fc.oneof(fieldName, fc.constantFrom('Set-Cookie', 'Content-Type', 'X-Mixed-Case', 'Connection', 'Keep-Alive', 'X-Named')), value), { maxLength: 8 }),
  body: fc.uint8Array({ maxLength: 5000 }).map((b) => Buffer.from(b)),
  chunked: fc.boolean(),
  chunks: fc.integer({ min: 1, max: 4 }),
  trailers: fc.array(fc.tuple(fieldName, value), { maxLength: 3 }),
  /** A Trailer field announces the trailers. */
  announced: fc.boolean(),
});
type GeneratedResponse = typeof responseArb extends fc.Arbitrary<infer T> ? T : never;

/** The response's bytes as the app writes them. */
function responseBytes(response: GeneratedResponse, bodyless: boolean): Buffer {
  const { status, fields, body, chunked, chunks, trailers, announced } = response;
  let head = `HTTP/1.1 ${status} Whatever\r\n${announced ? 'Trailer: x-announced\r\n' : ''}`;
  for (const [name, v] of fields) {
    // Connection lines keep the connection alive and name X-Named, which must be dropped too.
    head += name === 'Connection' ? 'Connection: keep-alive, X-Named\r\n' : `${name}: ${v}\r\n`;
  }
  const noBody = bodyless || status === 204 || status === 304;
  if (!chunked) return Buffer.concat([Buffer.from(`${head}Content-Length: ${noBody ? 0 : body.length}\r\n\r\n`, 'latin1'), noBody ? Buffer.alloc(0) : body]);
  const parts: Buffer[] = [Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n`, 'latin1')];
  if (!noBody) {
    const size = Math.ceil(body.length / chunks) || 1;
    for (let at = 0; at < body.length; at += size) {
      const piece = body.subarray(at, at + size);
      parts.push(Buffer.from(`${piece.length.toString(16)};n=1\r\n`, 'latin1'), piece, Buffer.from('\r\n', 'latin1'));
    }
    parts.push(Buffer.from(`0\r\n${trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1'));
  }
  return Buffer.concat(parts);
}

test('differential: what the app gets is the client\'s request, translated, as llhttp reads it; what the client gets is the app\'s response, translated', async () => {
  let plans = new Map<string, { request: GeneratedRequest; response: GeneratedResponse }>();
  const app = await rawApp((target, connection) => {
    const plan = plans.get(target);
    if (plan === undefined) {
      connection.socket.write('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    connection.socket.write(responseBytes(plan.response, plan.request.method === 'HEAD'));
  });
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'http1' } });
  cleanups.push(() => proxy.stop());
  let run = 0;
  await fc.assert(fc.asyncProperty(fc.array(fc.tuple(requestArb, responseArb), { minLength: 1, maxLength: 4 }), async (cases) => {
    run++;
    plans = new Map();
    const session = h2session(proxy.listenPort);
    try {
      const targets = cases.map(([request], i) => `/r${run}-${i}${request.path.startsWith('/') ? '' : '/'}${request.path}`);
      cases.forEach(([request, response], i) => plans.set(targets[i], { request, response }));
      const answers = await Promise.all(cases.map(([request], i) => {
        const headers: OutgoingHttpHeaders = { ':method': request.method, ':path': targets[i] };
        if (request.host !== undefined) headers.host = request.host;
        const list: string[] = [];
        for (const [name, v] of request.fields) list.push(name, v);
        for (const crumb of request.cookies) list.push('cookie', crumb);
        for (const xff of request.forwardedFor) list.push('x-forwarded-for', xff);
        if (request.te) list.push('te', 'trailers');
        const body = request.body;
        if (body !== null && request.withLength) list.push('content-length', String(body.reduce((n, b) => n + b.length, 0)));
        const trailers = body !== null && !request.withLength && request.trailers !== undefined ? lastWins(request.trailers) : undefined;
        return send(session, { ...headers, ...toHeaderObject(list) }, body, trailers);
      }));
      const messages = received(app);
      for (const [i, [request, response]] of cases.entries()) {
        const target = targets[i];
        const label = `${request.method} ${target}`;
        const got = messages.filter((m) => m.url === target);
        assert.equal(got.length, 1, `${label}: the app got it once`);
        const message = got[0];
        assert.equal(message.method, request.method, label);
        assert.equal(message.versionMinor, 1, label);
        assert.equal(message.keepAlive, true, label);
        checkRequestFields(request, pairs(message.headers), `127.0.0.1:${proxy.listenPort}`, label);
        const body = request.body === null ? Buffer.alloc(0) : Buffer.concat(request.body);
        assert.ok(message.body.equals(body), `${label}: the body arrived whole (${message.body.length} of ${body.length} bytes)`);
        // Trailers go as an object (a repeated name keeps its first place and its last value); only a chunked body carries them.
        const sentTrailers = request.body !== null && !request.withLength && request.trailers !== undefined ? Object.entries(lastWins(request.trailers)) : [];
        assert.deepEqual(pairs(message.trailers), sentTrailers, `${label}: trailers`);
        checkResponse(answers[i], request, response, label);
      }
      assert.ok(app.connections.every((c) => c.pipelined === 0), 'nothing was written behind an unanswered request');
    } finally {
      session.destroy();
    }
  }), { numRuns: RUNS });
  const text = await proxy.metrics();
  for (const kind of ['reset', 'truncated', 'bad_response', 'connect_refused']) assert.equal(metricValue(text, `drain_proxy_upstream_errors_total{kind="${kind}"}`), 0, kind);
});

/** An object of the pairs, a repeated name keeping its first place and its last value; no prototype. */
function lastWins(pairs: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [name, v] of pairs) out[name] = v;
  return out;
}

/** node:http2 sends a header object's arrays as repeated fields, in order. */
function toHeaderObject(list: string[]): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i < list.length; i += 2) {
    const before = out[list[i]];
    out[list[i]] = before === undefined ? list[i + 1] : [...(Array.isArray(before) ? before : [before]), list[i + 1]];
  }
  return out;
}

/** The fields the app got: Host, the client's own fields in order (as node:http2 groups them), cookies joined, the forwarded pair, the framing line. */
function checkRequestFields(request: GeneratedRequest, got: Array<[string, string]>, authority: string, label: string): void {
  const rest = got.filter(([name]) => !['host', 'cookie', 'x-forwarded-for', 'x-forwarded-proto', 'content-length', 'transfer-encoding'].includes(name));
  // node:http2 sends an object's fields grouped by name, in the order each name first appears.
  const grouped = Object.entries(toHeaderObject(request.fields.flat())).flatMap(([name, v]) => (Array.isArray(v) ? v : [String(v)]).map((one) => [name, one] as [string, string]));
  assert.deepEqual(rest, grouped, `${label}: the client's fields, in order`);
  const one = (name: string): string[] => got.filter(([n]) => n === name).map(([, v]) => v);
  assert.deepEqual(one('host'), [request.host ?? authority], `${label}: one Host, the client's or its :authority`);
  assert.deepEqual(one('cookie'), request.cookies.length === 0 ? [] : [request.cookies.join('; ')], `${label}: cookie crumbs joined (RFC 9113 §8.2.3)`);
  assert.deepEqual(one('x-forwarded-for'), [[...request.forwardedFor, '127.0.0.1'].join(', ')], `${label}: X-Forwarded-For appended to`);
  assert.deepEqual(one('x-forwarded-proto'), ['http'], label);
  const length = request.body === null ? 0 : request.body.reduce((n, b) => n + b.length, 0);
  if (request.body !== null && request.withLength) {
    assert.deepEqual(one('content-length'), [String(length)], `${label}: the client's Content-Length`);
    assert.deepEqual(one('transfer-encoding'), [], label);
  } else if (request.body !== null) {
    assert.deepEqual(one('transfer-encoding'), ['chunked'], `${label}: a body of unknown length goes chunked`);
    assert.deepEqual(one('content-length'), [], label);
  } else {
    const bodiless = ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE'].includes(request.method);
    assert.deepEqual(one('content-length'), bodiless ? [] : ['0'], `${label}: no body`);
    assert.deepEqual(one('transfer-encoding'), [], label);
  }
}

/** The client got the app's status, its fields in order less the hop-by-hop ones and those Connection named, its body and trailers. */
function checkResponse(answer: Exchange, request: GeneratedRequest, response: GeneratedResponse, label: string): void {
  assert.equal(answer.rstCode, constants.NGHTTP2_NO_ERROR, `${label}: a complete answer`);
  assert.equal(answer.status, response.status, label);
  const named = response.fields.some(([name]) => name === 'Connection');
  const dropped = new Set([...HOP_BY_HOP, ...(named ? ['x-named'] : [])]);
  const expected = pairs([...(response.announced ? ['Trailer', 'x-announced'] : []), ...response.fields.flat()]).filter(([name]) => !dropped.has(name));
  const got = pairs(answer.rawHeaders).filter(([name]) => !name.startsWith(':') && name !== 'content-length' && name !== 'date');
  assert.deepEqual(got, expected.filter(([name]) => name !== 'content-length' && name !== 'date'), `${label}: response fields`);
  const noBody = request.method === 'HEAD' || response.status === 204 || response.status === 304;
  assert.ok(answer.body.equals(noBody ? Buffer.alloc(0) : response.body), `${label}: response body (${answer.body.length} of ${response.body.length} bytes)`);
  // Trailers go to the client as an object (a repeated name's values together, where the name first came), when it
  // takes them (te: trailers) or they were announced (or the response is gRPC, which these are not).
  const grpc = response.fields.some(([name, v]) => name.toLowerCase() === 'content-type' && v.startsWith('application/grpc'));
  const trailers = response.chunked && !noBody && (request.te || response.announced || grpc) ? Object.entries(toHeaderObject(response.trailers.flat())).flatMap(([n, v]) => (Array.isArray(v) ? v : [String(v)]).map((one) => [n, one])) : [];
  assert.deepEqual(pairs(answer.trailers ?? []), trailers, `${label}: trailers`);
}

test('connections: kept alive and reused one exchange at a time; a kept-alive connection the app closes as the request arrives is retried on a new one (bodiless requests only); an idle close is noticed', async () => {
  let closeNext = false;
  const app = await rawApp((target, connection) => {
    if (closeNext && connection.requests > 1) {
      closeNext = false;
      connection.socket.destroy(); // the keep-alive race: the app had closed the connection, the request was already on its way
      return;
    }
    if (target === '/idle-close') {
      connection.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      return;
    }
    connection.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${target.length}\r\n\r\n${target}`);
  });
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'http1' } });
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());
  // The proxy's TCP health checks connect too: only connections that carried requests count.
  const used = (): AppConnection[] => app.connections.filter((c) => c.requests > 0);
  for (let i = 0; i < 20; i++) assert.equal((await send(session, { ':path': `/seq/${i}` }, null)).body.toString(), `/seq/${i}`);
  assert.equal(used().length, 1, 'sequential streams share one kept-alive connection');

  closeNext = true;
  const retried = await send(session, { ':path': '/raced' }, null);
  assert.equal(retried.status, 200);
  assert.equal(retried.body.toString(), '/raced', 'sent again on a new connection');
  assert.equal(used().length, 2);

  closeNext = true;
  const posted = await send(session, { ':method': 'POST', ':path': '/raced-post' }, [Buffer.from('once only')]);
  assert.equal(posted.status, 502, 'a request with a body is not sent twice');

  assert.equal((await send(session, { ':path': '/idle-close' }, null)).status, 200);
  await sleep(50);
  const before = used().length;
  assert.equal((await send(session, { ':path': '/after' }, null)).body.toString(), '/after', 'the connection the app closed was not used again');
  assert.equal(used().length, before + 1);
  assert.ok(app.connections.every((c) => c.pipelined === 0), 'nothing pipelined');

  const text = await proxy.metrics();
  assert.equal(metricValue(text, 'drain_proxy_upstream_errors_total{kind="reset"}'), 1, 'only the POST counted as a failure');
});

test('a response cut mid-body resets the client stream (RST_STREAM INTERNAL_ERROR, never END_STREAM) and counts as truncated, however its body was delimited', async () => {
  const app = await rawApp((target, connection) => {
    const { socket } = connection;
    if (target === '/length') socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part');
    else if (target === '/chunked') socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\nonly part\r\n');
    else socket.write('HTTP/1.1 200 OK\r\n\r\nonly part'); // until the connection closes: a reset is the cut
    setTimeout(() => socket.resetAndDestroy(), 50);
  });
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'http1' } });
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());
  for (const path of ['/length', '/chunked', '/until-close']) {
    const cut = await send(session, { ':path': path }, null);
    assert.equal(cut.status, 200, path);
    assert.equal(cut.body.toString(), 'only part', path);
    assert.equal(cut.rstCode, constants.NGHTTP2_INTERNAL_ERROR, `${path}: the client sees the response cut, not complete`);
  }
  assert.ok(await eventually(async () => metricValue(await proxy.metrics(), 'drain_proxy_upstream_errors_total{kind="truncated"}') === 3));
});

test('an answer before the whole request body: the client gets it, then RST_STREAM(NO_ERROR) to stop sending; the app\'s connection is not reused', async () => {
  const early = await startEarlyAnswerApp();
  const proxy = await startDrainProxy(early.port, { env: { UPSTREAM_PROTOCOL: 'http1' } });
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());
  const stream = session.request({ ':method': 'POST', ':path': '/upload', 'content-length': '1000000' });
  stream.on('error', () => {});
  stream.write(Buffer.alloc(1000));
  const [headers] = await once(stream, 'response') as [IncomingHttpHeaders];
  assert.equal(headers[':status'], 413);
  stream.resume();
  await once(stream, 'close');
  assert.equal(stream.rstCode, constants.NGHTTP2_NO_ERROR);
  assert.ok(await eventually(() => early.uploadsClosed === 1), "the app's connection went");
  assert.equal((await send(session, { ':path': '/next' }, null)).status, 200, 'the next stream gets a new connection');
});

/** An app that answers a POST with 413 as soon as its head is in, and counts the connections that carried one and closed. */
async function startEarlyAnswerApp(): Promise<{ port: number; uploadsClosed: number }> {
  const state = { port: 0, uploadsClosed: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let head = '';
    socket.on('close', () => {
      if (head.startsWith('POST')) state.uploadsClosed++;
    });
    socket.setEncoding('latin1').on('data', (text: string) => {
      if (head.includes('\r\n\r\n')) return;
      head += text;
      if (!head.includes('\r\n\r\n')) return;
      socket.write(head.startsWith('POST')
        ? 'HTTP/1.1 413 Content Too Large\r\ncontent-length: 0\r\n\r\n'
        : 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
      head = head.startsWith('POST') ? head : '';
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  state.port = typeof address === 'object' && address !== null ? address.port : 0;
  cleanups.push(() => new Promise((resolve) => {
    server.close(resolve);
    for (const socket of sockets) socket.destroy();
  }));
  return state;
}

test('backpressure both ways: a client that stops reading stops the app\'s writes; an app that stops reading stops the client\'s; every byte arrives', async () => {
  const size = 32 << 20;
  // Set from the app's callbacks: an object, so that what the test reads is not narrowed away.
  const seen = { appBlocked: false, paused: null as Socket | null, uploaded: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      if (seen.paused === socket || !head.includes('\r\n\r\n')) {
        if (seen.paused !== socket) {
          head += chunk.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
        }
        if (head.startsWith('GET')) {
          head = ''; // bodiless: the next bytes are the next request
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
          const piece = Buffer.alloc(64 * 1024, 'x');
          let sent = 0;
          const pushMore = (): void => {
            while (sent < size) {
              sent += piece.length;
              if (!socket.write(piece)) {
                seen.appBlocked = true;
                socket.once('drain', pushMore);
                return;
              }
            }
          };
          pushMore();
          return;
        }
        if (seen.paused !== socket) {
          // An upload: not read at first.
          seen.paused = socket;
          seen.uploaded += Buffer.byteLength(head.slice(head.indexOf('\r\n\r\n') + 4), 'latin1');
          socket.pause();
          return;
        }
      }
      seen.uploaded += chunk.length;
      if (seen.uploaded >= size) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => {
    server.close(resolve);
    for (const socket of sockets) socket.destroy();
  }));
  const address = server.address();
  const proxy = await startDrainProxy(typeof address === 'object' && address !== null ? address.port : 0, { env: { UPSTREAM_PROTOCOL: 'http1' } });
  cleanups.push(() => proxy.stop());
  const session = h2session(proxy.listenPort);
  cleanups.push(() => session.destroy());

  const download = session.request({ ':path': '/big' });
  download.pause();
  assert.ok(await eventually(() => seen.appBlocked, 5000), "the app's writes were held back while the client did not read");
  let received = 0;
  download.on('data', (chunk: Buffer) => (received += chunk.length));
  download.resume();
  await once(download, 'end');
  assert.equal(received, size, 'every byte reached the client');

  const upload = session.request({ ':method': 'POST', ':path': '/up', 'content-length': String(size) });
  upload.on('error', () => {});
  const answered = once(upload, 'response') as Promise<[IncomingHttpHeaders]>;
  const piece = Buffer.alloc(64 * 1024, 'y');
  let written = 0;
  const uploadedAll = new Promise<void>((resolve) => {
    const more = (): void => {
      while (written < size) {
        written += piece.length;
        if (!upload.write(piece)) {
          upload.once('drain', more);
          return;
        }
      }
      upload.end();
      resolve();
    };
    more();
  });
  // The app reads nothing: the client's writes stall well before the end (windows and socket buffers only).
  let last = -1;
  while (written !== last) {
    last = written;
    await sleep(300);
  }
  assert.ok(seen.paused !== null && written < size, `the client was held back after ${written} of ${size} bytes`);
  seen.paused.resume();
  await uploadedAll;
  const [headers] = await answered;
  assert.equal(headers[':status'], 200);
  assert.equal(seen.uploaded, size, 'every byte reached the app');
});
