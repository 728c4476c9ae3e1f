/**
 * The security review of docs/security.md, as tests over real sockets and the
 * real process: the admin port changes nothing but through `/drain`; the proxy
 * connects to the configured upstream only, whatever the request names; the
 * client's X-Forwarded-For is appended to and never decides anything; no
 * request data reaches the logs at info level.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createServer, type Socket } from 'node:net';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAIN, startDrainProxy, type DrainProxy } from '../../harness/drain-proxy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { RawClient } from '../helpers/raw-client.ts';

/** A raw admin request (fetch refuses some methods, such as CONNECT and TRACE). */
function adminRequest(proxy: DrainProxy, method: string, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxy.adminPort, method, path: target, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function state(proxy: DrainProxy): Promise<string> {
  const s = (await (await proxy.admin('/status')).json()) as { phase: string; ready: boolean; drainTrigger: string | null };
  const ready = await proxy.admin('/readyz');
  return `${s.phase} ready=${s.ready} trigger=${s.drainTrigger} readyz=${ready.status}`;
}

test('admin port: nothing but /drain (GET|POST) changes state; every other path and method is read-only, 404 or 405', async () => {
  const upstream = await startUpstream();
  const proxy = await startDrainProxy(upstream.port, { env: { DRAIN_DELAY: '100ms' } });
  try {
    const serving = await state(proxy);
    assert.equal(serving, 'serving ready=true trigger=null readyz=200');
    const known = ['/readyz', '/livez', '/metrics', '/status'];
    const unknown = ['/', '/drain/', '/DRAIN', '/%64rain', '/drain;wait=1', '/drain%2F', '//drain', '/admin/drain', '/quitquitquit', '/healthcheck/fail', '/config', '/debug/pprof', '/shutdown', '/reset_counters'];
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'];
    for (const target of [...known, ...unknown, '/drain']) {
      for (const method of methods) {
        if (target === '/drain' && (method === 'GET' || method === 'POST')) continue;
        const { status } = await adminRequest(proxy, method, target);
        const expected = target === '/drain' || (known.includes(target) && method !== 'GET' && method !== 'HEAD') ? 405 : known.includes(target) ? 200 : 404;
        assert.equal(status, expected, `${method} ${target}`);
      }
    }
    assert.equal(await state(proxy), serving, 'no request above changed anything');
    assert.equal(upstream.received.length, 0, 'the admin port never talks to the app');

    // The one way in, from an allowed caller (loopback here): the check above would have seen it.
    assert.equal((await adminRequest(proxy, 'POST', '/drain')).status, 202);
    assert.match(await state(proxy), /^draining ready=false trigger=admin readyz=503$/);
  } finally {
    await proxy.stop();
    await upstream.close();
  }
});

/** A loopback listener standing for "elsewhere": it counts the connections it gets and closes each at once. */
async function listenElsewhere(): Promise<{ address: string; connections: Socket[]; close: () => void }> {
  const connections: Socket[] = [];
  const server = createServer((socket) => {
    connections.push(socket);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { address: `127.0.0.1:${(server.address() as { port: number }).port}`, connections, close: () => server.close() };
}

test('no open proxy: absolute-form targets, a Host naming elsewhere, CONNECT and upgrades never reach anything but UPSTREAM', async () => {
  const upstream = await startUpstream();
  // The "elsewhere" every request below names: it must not see a single connection.
  const elsewhere = await listenElsewhere();
  const other = elsewhere.address;
  const proxy = await startDrainProxy(upstream.port);
  try {
    const client = await RawClient.connect(proxy.listenPort);
    client.write(`GET http://${other}/abs HTTP/1.1\r\nHost: ${other}\r\n\r\n`);
    assert.equal((await client.response()).status, 200);
    client.write(`GET /host HTTP/1.1\r\nHost: ${other}\r\n\r\n`);
    assert.equal((await client.response()).status, 200);
    client.write('GET http://other-host:1234/ HTTP/1.1\r\nHost: other-host:1234\r\n\r\n');
    assert.equal((await client.response()).status, 200);
    client.write(`POST http://${other}/post HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi`);
    assert.equal((await client.response()).status, 200);
    client.write(`GET /up HTTP/1.1\r\nHost: ${other}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    assert.equal((await client.response()).status, 200, 'an upgrade the app declines goes nowhere else either');
    client.destroy();
    // CONNECT is refused outright: the proxy tunnels to nothing a client names.
    const tunnel = await RawClient.connect(proxy.listenPort);
    tunnel.write(`CONNECT ${other} HTTP/1.1\r\nHost: ${other}\r\n\r\n`);
    const refused = await tunnel.response();
    assert.ok(refused.status >= 400 && refused.status < 500, `CONNECT answered ${refused.status}`);
    tunnel.destroy();

    assert.deepEqual(upstream.received, [`GET http://${other}/abs`, 'GET /host', 'GET http://other-host:1234/', `POST http://${other}/post`, 'GET /up']);
    await sleep(200);
    assert.equal(elsewhere.connections.length, 0, 'the other listener received a connection');
  } finally {
    await proxy.stop();
    await upstream.close();
    elsewhere.close();
  }
});

test('X-Forwarded-For from the client is appended to, never replaced or trusted', async () => {
  const upstream = await startUpstream();
  const proxy = await startDrainProxy(upstream.port);
  try {
    const client = await RawClient.connect(proxy.listenPort);
    const res = await client.request('/headers', 'X-Forwarded-For: 203.0.113.9, 10.0.0.1\r\nX-Forwarded-Proto: https\r\n');
    const seen = JSON.parse(res.body) as Record<string, string>;
    assert.equal(seen['x-forwarded-for'], '203.0.113.9, 10.0.0.1, 127.0.0.1', 'the real peer address is appended last');
    assert.equal(seen['x-forwarded-proto'], 'https', 'added only when absent');
    client.destroy();
  } finally {
    await proxy.stop();
    await upstream.close();
  }
});

test('X-Forwarded-Proto from a peer outside TRUSTED_PROXIES is replaced with http, over HTTP/1.1 and HTTP/2 (both upstream protocols); from a trusted peer it is passed on', async () => {
  const { connect: h2connect } = await import('node:http2');
  const { startH2cApp } = await import('../h2/h2c-app.ts');
  const http1App = await startUpstream();
  const h2cApp = await startH2cApp();
  /** What the app saw as X-Forwarded-Proto when a client on 127.0.0.1 claimed https, per client protocol. */
  const seenProto = async (trustedProxies: string | undefined): Promise<string[]> => {
    const env: Record<string, string> = trustedProxies === undefined ? {} : { TRUSTED_PROXIES: trustedProxies };
    const viaHttp1 = await startDrainProxy(http1App.port, { env });
    const viaH2c = await startDrainProxy(h2cApp.port, { env: { ...env, UPSTREAM_PROTOCOL: 'h2c' } });
    try {
      const client = await RawClient.connect(viaHttp1.listenPort);
      const claims = 'X-Forwarded-Proto: https\r\nX-Forwarded-For: 198.51.100.1\r\n';
      const http1 = JSON.parse((await client.request('/headers', claims)).body) as Record<string, string>;
      // A second request on the same connection: the decision is the connection's, taken once.
      const again = JSON.parse((await client.request('/headers', claims)).body) as Record<string, string>;
      client.destroy();
      assert.equal(http1['x-forwarded-for'], '198.51.100.1, 127.0.0.1', 'X-Forwarded-For is appended to either way');
      const h2 = async (proxy: DrainProxy): Promise<string> => {
        const session = h2connect(`http://127.0.0.1:${proxy.listenPort}`);
        session.on('error', () => {});
        try {
          return await new Promise((resolve, reject) => {
            const stream = session.request({ ':path': '/headers', 'x-forwarded-proto': 'https' });
            let body = '';
            let echoed = '';
            stream.on('response', (h) => (echoed = String(h['x-seen-xfp'] ?? '')));
            stream.setEncoding('utf8').on('data', (text: string) => (body += text));
            stream.on('end', () => resolve(echoed !== '' ? echoed : (JSON.parse(body) as Record<string, string>)['x-forwarded-proto']));
            stream.on('error', reject);
          });
        } finally {
          session.close();
        }
      };
      return [http1['x-forwarded-proto'], again['x-forwarded-proto'], await h2(viaHttp1), await h2(viaH2c)];
    } finally {
      await viaHttp1.stop();
      await viaH2c.stop();
    }
  };
  try {
    assert.deepEqual(await seenProto(undefined), ['https', 'https', 'https', 'https'], 'default `private`: loopback is an in-cluster peer');
    assert.deepEqual(await seenProto('none'), ['http', 'http', 'http', 'http'], 'nobody trusted: the proxy\'s own scheme');
    assert.deepEqual(await seenProto('10.0.0.0/8,fd00::/8'), ['http', 'http', 'http', 'http'], 'a list without loopback');
    assert.deepEqual(await seenProto('127.0.0.1'), ['https', 'https', 'https', 'https'], 'a single address');
  } finally {
    await http1App.close();
    await h2cApp.close();
  }
});

test('TRUSTED_PROXIES: an invalid value stops the proxy before it binds, exit 1, one line naming the variable', () => {
  for (const bad of ['everyone', '10.0.0.0/33', '300.1.2.3', 'none,private', '::1/129']) {
    const result = spawnSync(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH, TRUSTED_PROXIES: bad, LISTEN_PORT: '1', ADMIN_PORT: '2' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(result.status, 1, bad);
    assert.match(result.stderr, /^drain-proxy: invalid TRUSTED_PROXIES="[^"]*": expected private, none, or comma-separated addresses and CIDRs[^\n]*\n$/, bad);
  }
});

test('no request data in the logs at info level: paths, queries, header values and bodies stay out, ACCESS_LOG off or on', async () => {
  const secret = 'zq7SECRETx';
  const upstream = await startUpstream(0, (req, res) => {
    if (!req.url?.includes('/reset')) return false;
    req.socket.resetAndDestroy();
    return true;
  });
  try {
    for (const accessLog of ['off', 'on']) await checkLogs(upstream.port, secret, accessLog);
  } finally {
    await upstream.close();
  }
});

async function checkLogs(upstreamPort: number, secret: string, accessLog: string): Promise<void> {
  {
    const proxy = await startDrainProxy(upstreamPort, { env: { LOG_LEVEL: 'info', ACCESS_LOG: accessLog, DRAIN_DELAY: '100ms' } });
    try {
      const client = await RawClient.connect(proxy.listenPort);
      const body = `${secret}-body`;
      const headers = `Cookie: session=${secret}-cookie\r\nAuthorization: Bearer ${secret}-token\r\nX-Forwarded-For: ${secret}-xff\r\nContent-Length: ${body.length}\r\n`;
      client.write(`POST /${secret}-path?q=${secret}-query HTTP/1.1\r\nHost: ${secret}-host\r\n${headers}\r\n${body}`);
      assert.equal((await client.response()).status, 200);
      // A request the app resets (502, logged as an upstream failure) and one the proxy refuses (400).
      client.write(`GET /reset/${secret}-failed HTTP/1.1\r\nHost: ${secret}-host\r\nCookie: ${secret}-cookie\r\n\r\n`);
      assert.equal((await client.response()).status, 502);
      const bad = await RawClient.connect(proxy.listenPort);
      bad.write(`GET /${secret}-bad HTTP/1.1\r\nHost: a\r\nX-Bad: ${secret}\x01\r\n\r\n`);
      assert.equal((await bad.response()).status, 400);
      await bad.closed;
      client.destroy();
      proxy.signal('SIGTERM');
      assert.deepEqual(await proxy.exited, { code: 0, signal: null });
      const output = JSON.stringify(proxy.logs) + proxy.stderr;
      assert.ok(proxy.log('upstream connection failed'), 'the failure was logged (the check below looks at real lines)');
      if (accessLog === 'on') assert.ok(proxy.log('request'), 'access log lines were written');
      assert.ok(!output.includes(secret), `request data in the logs (ACCESS_LOG=${accessLog}): ${output.slice(output.indexOf(secret) - 200, output.indexOf(secret) + 100)}`);
    } finally {
      await proxy.stop();
    }
  }
}

test('the proxy writes no files: nothing in src/ opens a file for writing (the chart mounts the root filesystem read-only)', () => {
  const src = path.join(import.meta.dirname, '../../src');
  // src/inject is `drain-proxy inject`, a command on the user's machine, never loaded by the proxy (test/inject/cli.test.ts).
  const commandOnly = path.join(src, 'inject');
  // And the termination message goes to the kubelet's /dev/termination-log, a mount of its own that
  // stays writable under a read-only root (never created when absent), or to a path the operator configured.
  const terminationMessage = path.join(src, 'log/termination-message.ts');
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (file === commandOnly || file === terminationMessage) continue;
      if (entry.isDirectory()) walk(file);
      else if (file.endsWith('.ts') && /\b(writeFile|appendFile|createWriteStream|openSync|mkdir|pino\.destination\(\s*['"`/])/.test(readFileSync(file, 'utf8'))) offenders.push(file);
    }
  };
  walk(src);
  assert.deepEqual(offenders, []);
});

// ---- /drain from other addresses, with spoofed forwarding headers: needs a network namespace (root, iproute2, curl).

function run(args: string[]): { status: number | null; stdout: string } {
  const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, stdout: result.stdout ?? '' };
}

const NS = `dp-sec-${process.pid}`;
const POD_IP = '169.254.202.1';
const OTHER_POD = '169.254.202.3';
const canNamespace = process.getuid?.() === 0 && run(['ip', 'netns', 'list']).status === 0 && run(['curl', '--version']).status === 0;
let nsProxy: DrainProxy | undefined;

after(async () => {
  await nsProxy?.stop();
  if (canNamespace) run(['ip', 'netns', 'del', NS]);
});

test('/drain from another pod is refused even when X-Forwarded-For, X-Real-IP or Forwarded claim loopback', { skip: !canNamespace && 'needs root and ip netns' }, async () => {
  run(['ip', 'netns', 'add', NS]);
  for (const step of [
    ['ip', '-n', NS, 'link', 'set', 'lo', 'up'],
    ['ip', '-n', NS, 'link', 'add', 'pod0', 'type', 'veth', 'peer', 'name', 'pod1'],
    ['ip', '-n', NS, 'addr', 'add', `${POD_IP}/24`, 'dev', 'pod0'],
    ['ip', '-n', NS, 'addr', 'add', `${OTHER_POD}/24`, 'dev', 'pod0'],
    ['ip', '-n', NS, 'link', 'set', 'pod0', 'up'],
  ]) assert.equal(run(step).status, 0, step.join(' '));
  nsProxy = await startDrainProxy('http://127.0.0.1:9', {
    host: POD_IP,
    listenPort: 8000,
    adminPort: 9901,
    env: { LOG_LEVEL: 'warn' },
    wrap: ['ip', 'netns', 'exec', NS],
    wait: 'none',
  });
  const curl = (source: string, path: string, headers: string[] = [], method = 'POST'): string =>
    run(['ip', 'netns', 'exec', NS, 'curl', '-s', '-w', ' %{http_code}', '--interface', source, '-X', method, ...headers.flatMap((h) => ['-H', h]), `http://${POD_IP}:9901${path}`]).stdout;
  let live = '';
  for (let i = 0; i < 100 && !live.endsWith('200'); i++) {
    await sleep(50);
    live = curl(POD_IP, '/livez', [], 'GET');
  }
  assert.ok(live.endsWith('200'), 'proxy started in the namespace');
  const spoofs = ['X-Forwarded-For: 127.0.0.1', 'X-Real-IP: 127.0.0.1', 'Forwarded: for=127.0.0.1', 'X-Forwarded-For: ::1', 'X-Drain-Token: '];
  for (const header of spoofs) assert.ok(curl(OTHER_POD, '/drain', [header]).endsWith('403'), header);
  assert.ok(curl(OTHER_POD, '/drain', spoofs).endsWith('403'), 'all together');
  assert.match(curl(POD_IP, '/metrics', [], 'GET'), /drain_proxy_drain_denied_total 6/);
  assert.match(curl(POD_IP, '/status', [], 'GET'), /"phase":"serving"/, 'no drain started');
});

test('no open proxy over HTTP/2 either: an :authority naming elsewhere reaches UPSTREAM only, with either UPSTREAM_PROTOCOL', async () => {
  const { connect: h2connect } = await import('node:http2');
  const { startH2cApp } = await import('../h2/h2c-app.ts');
  const elsewhere = await listenElsewhere();
  const other = elsewhere.address;
  try {
    for (const protocol of ['http1', 'h2c']) {
      const http1App = protocol === 'http1' ? await startUpstream() : null;
      const h2cApp = protocol === 'h2c' ? await startH2cApp() : null;
      const proxy = await startDrainProxy((http1App ?? h2cApp)!.port, { env: { UPSTREAM_PROTOCOL: protocol } });
      try {
        const session = h2connect(`http://127.0.0.1:${proxy.listenPort}`);
        session.on('error', () => {});
        const status = (headers: Record<string, string>): Promise<number> =>
          new Promise((resolve, reject) => {
            const stream = session.request(headers);
            stream.on('response', (h) => resolve(Number(h[':status'])));
            stream.on('error', reject);
            stream.resume();
            stream.end();
          });
        assert.equal(await status({ ':method': 'GET', ':path': '/h2', ':authority': other, ':scheme': 'http' }), 200, protocol);
        assert.equal(await status({ ':method': 'GET', ':path': '/h2-host', ':authority': 'other-host:1234', ':scheme': 'https' }), 200, protocol);
        session.close();
        if (http1App !== null) assert.deepEqual(http1App.received, ['GET /h2', 'GET /h2-host']);
        if (h2cApp !== null) {
          await until(() => h2cApp.closes.length === 2);
          assert.deepEqual(h2cApp.closes.map((c) => c.path), ['/h2', '/h2-host']);
        }
      } finally {
        await proxy.stop();
        await http1App?.close();
        await h2cApp?.close();
      }
    }
    await sleep(200);
    assert.equal(elsewhere.connections.length, 0, 'the other listener received a connection');
  } finally {
    elsewhere.close();
  }
});

async function until(probe: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !probe(); i++) await sleep(20);
}
