/**
 * gRPC through the real process (UPSTREAM_PROTOCOL=h2c), with @grpc/grpc-js
 * on both ends: unary, server-streaming and bidirectional calls; status codes,
 * messages and trailing metadata intact; and the drain: a streaming call in
 * flight at t0 completes, and calls issued continuously across t0 all succeed
 * on the channel's one connection, which is kept until its moment in the
 * close window (after DRAIN_DELAY): nothing sends the channel reconnecting
 * while endpoint removal still propagates.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startDrainProxy } from '../../harness/drain-proxy.ts';
import { metricValue } from '../../harness/metrics.ts';

const PROTO = fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url));

interface EchoRequest { text: string; failWith?: number }
interface StreamRequest { count: number; intervalMs: number }
interface EchoReply { text: string; seq: number }

type EchoClient = grpc.Client & {
  Unary(request: EchoRequest, metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null, reply?: EchoReply) => void): grpc.ClientUnaryCall;
  ServerStream(request: StreamRequest): grpc.ClientReadableStream<EchoReply>;
  Bidi(): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
};

const definition = protoLoader.loadSync(PROTO, { keepCase: false, longs: Number, defaults: true });
const pkg = grpc.loadPackageDefinition(definition) as any;
const EchoService = pkg.drainproxy.test.Echo as grpc.ServiceClientConstructor;

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function startGrpcServer(): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(EchoService.service, {
    Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'from-app');
      trailer.set('x-trailer-bin', Buffer.from([0, 1, 2, 255]));
      if (call.request.failWith) {
        callback({ code: call.request.failWith, details: call.request.text, metadata: trailer });
        return;
      }
      const seen = call.metadata.get('x-client')[0] ?? '';
      callback(null, { text: `${call.request.text}|${seen}`, seq: 0 }, trailer);
    },
    ServerStream(call: grpc.ServerWritableStream<StreamRequest, EchoReply>) {
      let seq = 0;
      const timer = setInterval(() => {
        if (call.cancelled) {
          clearInterval(timer);
          return;
        }
        call.write({ text: 'tick', seq: seq++ });
        if (seq === call.request.count) {
          clearInterval(timer);
          const trailer = new grpc.Metadata();
          trailer.set('x-sent', String(seq));
          call.end(trailer);
        }
      }, call.request.intervalMs);
      call.on('cancelled', () => clearInterval(timer));
    },
    Bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
      let seq = 0;
      call.on('data', (request: EchoRequest) => call.write({ text: request.text.toUpperCase(), seq: seq++ }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  cleanups.push(() => server.forceShutdown());
  return { port, server };
}

function client(port: number): EchoClient {
  const c = new EchoService(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  cleanups.push(() => c.close());
  return c;
}

interface UnaryOutcome { err: grpc.ServiceError | null; reply?: EchoReply; status?: grpc.StatusObject }

function unary(c: EchoClient, request: EchoRequest, metadata = new grpc.Metadata()): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    let outcome: UnaryOutcome | undefined;
    let status: grpc.StatusObject | undefined;
    const done = (): void => {
      if (outcome !== undefined && status !== undefined) resolve({ ...outcome, status });
    };
    const call = c.Unary(request, metadata, (err, reply) => {
      outcome = { err, reply };
      done();
    });
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      done();
    });
  });
}

function collect(stream: grpc.ClientReadableStream<EchoReply> | grpc.ClientDuplexStream<EchoRequest, EchoReply>): Promise<{ replies: EchoReply[]; status: grpc.StatusObject; error?: Error }> {
  return new Promise((resolve) => {
    const replies: EchoReply[] = [];
    let error: Error | undefined;
    stream.on('data', (reply: EchoReply) => replies.push(reply));
    stream.on('error', (err: Error) => (error = err));
    stream.on('status', (status: grpc.StatusObject) => setImmediate(() => resolve({ replies, status, error })));
  });
}

test('gRPC through the proxy: unary, server streaming and bidi; status codes, messages and trailing metadata intact', async () => {
  const app = await startGrpcServer();
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c' } });
  cleanups.push(() => proxy.stop());
  const c = client(proxy.listenPort);

  const metadata = new grpc.Metadata();
  metadata.set('x-client', 'hello-meta');
  const ok = await unary(c, { text: 'ping' }, metadata);
  assert.equal(ok.err, null);
  assert.equal(ok.reply?.text, 'ping|hello-meta', 'request metadata reaches the app');
  assert.equal(ok.status?.code, grpc.status.OK);
  assert.deepEqual(ok.status?.metadata.get('x-trailer'), ['from-app']);
  assert.deepEqual(ok.status?.metadata.get('x-trailer-bin'), [Buffer.from([0, 1, 2, 255])], 'binary trailing metadata intact');

  const failed = await unary(c, { text: 'no such thing: ünïcode', failWith: grpc.status.NOT_FOUND });
  assert.equal(failed.err?.code, grpc.status.NOT_FOUND);
  assert.equal(failed.err?.details, 'no such thing: ünïcode');
  assert.deepEqual(failed.status?.metadata.get('x-trailer'), ['from-app'], 'trailing metadata of a failed call intact');

  const denied = await unary(c, { text: 'nope', failWith: grpc.status.PERMISSION_DENIED });
  assert.equal(denied.err?.code, grpc.status.PERMISSION_DENIED);

  const streamed = await collect(c.ServerStream({ count: 20, intervalMs: 5 }));
  assert.equal(streamed.status.code, grpc.status.OK);
  assert.deepEqual(streamed.replies.map((r) => r.seq), Array.from({ length: 20 }, (_, i) => i));
  assert.deepEqual(streamed.status.metadata.get('x-sent'), ['20']);

  const bidi = c.Bidi();
  const bidiDone = collect(bidi);
  const words = Array.from({ length: 50 }, (_, i) => `word-${i}-${'x'.repeat(i * 100)}`);
  for (const text of words) {
    bidi.write({ text });
    await sleep(2);
  }
  bidi.end();
  const bidiResult = await bidiDone;
  assert.equal(bidiResult.status.code, grpc.status.OK);
  assert.deepEqual(bidiResult.replies.map((r) => r.text), words.map((w) => w.toUpperCase()));

  const text = await (await proxy.admin('/metrics')).text();
  assert.equal(metricValue(text, 'drain_proxy_requests_total{protocol="h2",code_class="2xx"}'), 5, 'every RPC counted as an h2 request (gRPC errors travel in 200 responses)');
});

test('gRPC across a drain: the streaming call in flight at t0 completes; calls issued continuously across t0 all succeed on the one connection, kept through DRAIN_DELAY; exit 0', async () => {
  const app = await startGrpcServer();
  const proxy = await startDrainProxy(app.port, { env: { UPSTREAM_PROTOCOL: 'h2c', DRAIN_DELAY: '3s', DRAIN_TIMEOUT: '15s' } });
  cleanups.push(() => proxy.stop());
  const c = client(proxy.listenPort);
  assert.equal((await unary(c, { text: 'warm' })).err, null);

  // 12 messages, 250 ms apart: the call spans t0 by about 2.5 s.
  const streaming = collect(c.ServerStream({ count: 12, intervalMs: 250 }));
  const bidi = c.Bidi();
  const bidiDone = collect(bidi);
  bidi.write({ text: 'before' });

  const outcomes: UnaryOutcome[] = [];
  let t0 = 0;
  const loops = Array.from({ length: 3 }, async (_, loop) => {
    const started = performance.now();
    // Bounded: at most 400 calls per loop, until 2 s after t0 (DRAIN_DELAY is 3 s).
    for (let i = 0; i < 400; i++) {
      if (t0 !== 0 && performance.now() - t0 > 2000) break;
      if (performance.now() - started > 10_000) break;
      outcomes.push(await unary(c, { text: `loop-${loop}-${i}` }));
      await sleep(10);
    }
  });
  await sleep(500);
  t0 = performance.now();
  proxy.signal('SIGTERM');
  await proxy.waitForReady(503);
  bidi.write({ text: 'after' });
  await sleep(300);
  bidi.end();
  await Promise.all(loops);
  const during = await proxy.metrics();
  assert.ok(performance.now() - t0 < 3000, 'still inside DRAIN_DELAY');
  assert.equal(metricValue(during, 'drain_proxy_connections_active{protocol="h2"}'), 1, 'the channel kept its one connection through DRAIN_DELAY');
  for (const reason of ['drain_hint', 'drain_idle']) {
    assert.equal(metricValue(during, `drain_proxy_connections_closed_total{protocol="h2",reason="${reason}"}`) ?? 0, 0, `no GOAWAY before the window (${reason})`);
  }

  const failures = outcomes.filter((o) => o.err !== null);
  assert.equal(failures.length, 0, `failed calls: ${failures.map((f) => `${f.err?.code} ${f.err?.details}`).join('; ')}`);
  assert.ok(outcomes.length >= 30, `calls were issued across t0 (${outcomes.length})`);
  const stream = await streaming;
  assert.equal(stream.status.code, grpc.status.OK, stream.error?.message);
  assert.equal(stream.replies.length, 12, 'the streaming call in flight at t0 got every message');
  const bidiResult = await bidiDone;
  assert.equal(bidiResult.status.code, grpc.status.OK);
  assert.deepEqual(bidiResult.replies.map((r) => r.text), ['BEFORE', 'AFTER'], 'the bidi stream open at t0 kept working both ways');

  c.close();
  const exit = await proxy.exited;
  assert.equal(exit.code, 0);
  const summary = proxy.log('drain finished')!;
  assert.equal(summary.cut, 0);
  assert.ok((summary.requestsCompleted as number) >= 3, 'calls completed during the drain are counted');
});
