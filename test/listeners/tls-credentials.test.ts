/**
 * TLS credentials over real handshakes, with certificates openssl makes at
 * test time: the startup pair and the intermediate settings as a client sees
 * them (chain, ALPN, versions, ciphers); a Kubernetes Secret volume's swap
 * (new `..<timestamp>` directory, `..data` symlink renamed over the old one)
 * and an in-place rewrite picked up within a bound, by the directory watch
 * and by the poll alone; a bad pair refused and logged once while the old
 * certificate keeps serving; an open connection untouched by a rotation;
 * startup errors naming the variable.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, createServer as createTlsServer, type TLSSocket as TlsSocketType } from 'node:tls';
import pino from 'pino';
import { ALPN_PROTOCOLS, TlsCredentials, TlsCredentialsError, type TlsCredentialsOptions } from '../../src/listeners/tls-credentials.ts';
import { run } from '../../harness/processes.ts';
import { ensureOpenssl, fingerprint, makeCa, makeLeaf, type Pem, SecretVolume as Volume } from '../helpers/certificates.ts';

const skip = ensureOpenssl();

let pems: string;
let ca: Pem;
let a: Pem;
let b: Pem;
let c: Pem;
const cleanup: Array<() => void> = [];

/** A Secret volume removed after the file's tests. */
class SecretVolume extends Volume {
  constructor(pair: Pem) {
    super(pair);
    cleanup.push(() => this.remove());
  }
}

before(() => {
  if (skip) return;
  pems = mkdtempSync(join(tmpdir(), 'tls-credentials-'));
  ca = makeCa(pems);
  a = makeLeaf(pems, 'a');
  b = makeLeaf(pems, 'b');
  c = makeLeaf(pems, 'c');
});

after(() => {
  for (const fn of cleanup.reverse()) fn();
  if (pems !== undefined) rmSync(pems, { recursive: true, force: true });
});

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

function capturingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

function load(volume: { certFile: string; keyFile: string }, logger: pino.Logger, more: Partial<TlsCredentialsOptions> = {}): TlsCredentials {
  const credentials = TlsCredentials.load({ certFile: volume.certFile, keyFile: volume.keyFile, logger, ...more });
  cleanup.push(() => credentials.close());
  return credentials;
}

/**
 * A TLS port the way the front door will run one: plain TCP accepted, then
 * each socket handed to a tls.Server that does not listen (`emit('connection')`,
 * after a PROXY header where there is one); SNI handshakes get the current
 * pair from SNICallback, the others from the server's default context, which
 * each rotation replaces. Echoes.
 */
async function tlsPort(credentials: TlsCredentials): Promise<number> {
  const front = createTlsServer({ ...credentials.current.options, SNICallback: credentials.SNICallback, ALPNProtocols: [...ALPN_PROTOCOLS] }, (secure) => {
    secure.on('error', () => secure.destroy());
    secure.on('data', (chunk) => secure.write(chunk));
  });
  credentials.onRotate((loaded) => front.setSecureContext(loaded.options));
  const server: Server = createServer((socket) => front.emit('connection', socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => server.close());
  return (server.address() as { port: number }).port;
}

interface Handshake {
  readonly fingerprint256: string;
  readonly protocol: string | null;
  readonly alpn: string | false | null;
  readonly chain: string[];
  readonly socket: TlsSocketType;
}

function handshake(port: number, options: { servername?: string; ALPNProtocols?: string[]; maxVersion?: 'TLSv1.2'; ciphers?: string } = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: ca.cert, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'], ...options });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(true);
      const chain: string[] = [];
      for (let cert = peer; cert !== undefined && !chain.includes(cert.subject.CN + cert.fingerprint256); cert = cert.issuerCertificate) {
        chain.push(cert.subject.CN + cert.fingerprint256);
      }
      resolve({ fingerprint256: peer.fingerprint256, protocol: socket.getProtocol(), alpn: socket.alpnProtocol, chain, socket });
    });
    socket.once('error', reject);
  });
}

async function fingerprintNow(port: number): Promise<string> {
  const shake = await handshake(port);
  shake.socket.destroy();
  return shake.fingerprint256;
}

/** Handshakes every 10 ms until one sees `expected`; resolves with the milliseconds it took, or rejects after `boundMs`. */
async function seenWithin(port: number, expected: string, boundMs: number): Promise<number> {
  const startedAt = performance.now();
  while (performance.now() - startedAt < boundMs) {
    if ((await fingerprintNow(port)) === expected) return performance.now() - startedAt;
    await sleep(10);
  }
  assert.fail(`the new certificate was not served within ${boundMs} ms`);
}

describe('TLS credentials', { skip }, () => {
  test('the startup pair over a real handshake: its chain, ALPN h2 then http/1.1, TLS 1.3, and TLS 1.2 with intermediate ciphers only', async () => {
    const { logger, lines } = capturingLogger();
    const volume = new SecretVolume(a);
    const credentials = load(volume, logger);
    const port = await tlsPort(credentials);
    const shake = await handshake(port);
    shake.socket.destroy();
    assert.equal(shake.fingerprint256, fingerprint(a));
    assert.equal(shake.chain.length, 2, 'the leaf and the CA from the cert file');
    assert.equal(shake.alpn, 'h2');
    assert.equal(shake.protocol, 'TLSv1.3');
    const http1 = await handshake(port, { ALPNProtocols: ['http/1.1'] });
    http1.socket.destroy();
    assert.equal(http1.alpn, 'http/1.1');
    const tls12 = await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    tls12.socket.destroy();
    assert.equal(tls12.protocol, 'TLSv1.2');
    // CBC suites are not in the intermediate list: a client offering only one gets no handshake.
    await assert.rejects(handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' }), /handshake failure|no shared cipher|alert/i);
    assert.equal(credentials.current.fingerprint256, fingerprint(a));
    assert.ok(lines.some((l) => l.msg === 'TLS certificate loaded' && l.fingerprint256 === fingerprint(a)));
  });

  test('openssl s_client: the chain verifies, ALPN h2, TLS 1.3; TLS 1.1 and 1.0 refused even from a client that allows them', async () => {
    const { logger } = capturingLogger();
    const credentials = load(new SecretVolume(a), logger);
    const port = await tlsPort(credentials);
    const caFile = join(pems, 'ca.crt');
    const client = (args: string[]) =>
      run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', caFile, ...args], { allowFailure: true, timeoutMs: 10_000 });
    const modern = await client(['-alpn', 'h2,http/1.1']);
    assert.match(modern.stdout, /Verify return code: 0 \(ok\)/, modern.stdout);
    assert.match(modern.stdout, /ALPN protocol: h2/);
    // The client's preference among the TLS 1.3 suites (honorCipherOrder off, as the guidelines say): OpenSSL's puts AES-256 first.
    assert.match(modern.stdout, /New, TLSv1\.3, Cipher is TLS_AES_256_GCM_SHA384/);
    assert.match(modern.stdout, /Certificate chain\n 0 s:CN = localhost, O = a\n.*\n.*\n.*\n 1 s:CN = drain-proxy test ca/);
    for (const old of ['-tls1_1', '-tls1']) {
      const refused = await client([old, '-cipher', 'DEFAULT@SECLEVEL=0']);
      assert.notEqual(refused.code, 0, refused.stdout);
      assert.match(refused.stdout + refused.stderr, /alert protocol version/, 'the server answers with a protocol_version alert');
    }
  });

  test('a Secret volume swap (..data renamed over) is served within 1 s by the directory watch; the open connection keeps working', async (t) => {
    const { logger, lines } = capturingLogger();
    const volume = new SecretVolume(a);
    const credentials = load(volume, logger, { pollIntervalMs: 60_000 });
    credentials.watch();
    const port = await tlsPort(credentials);
    const open = await handshake(port);
    assert.equal(open.fingerprint256, fingerprint(a));
    const rotations: string[] = [];
    credentials.onRotate((loaded) => rotations.push(loaded.fingerprint256));
    volume.swap(b.cert, b.key);
    const ms = await seenWithin(port, fingerprint(b), 1000);
    t.diagnostic(`new certificate served ${ms.toFixed(0)} ms after the swap (watch)`);
    assert.deepEqual(rotations, [fingerprint(b)]);
    const rotated = lines.find((l) => l.msg === 'TLS certificate rotated');
    assert.equal(rotated?.fingerprint256, fingerprint(b));
    assert.equal(rotated?.previousFingerprint256, fingerprint(a));
    // The connection made before the rotation still carries bytes both ways.
    open.socket.write('still here');
    const [echo] = (await once(open.socket, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'still here');
    open.socket.destroy();
    // And a second swap, after the first directory was removed, is seen too.
    volume.swap(c.cert, c.key);
    await seenWithin(port, fingerprint(c), 1000);
  });

  test('with no directory watch, the poll alone serves the swap within its interval', async (t) => {
    const { logger } = capturingLogger();
    const volume = new SecretVolume(a);
    const credentials = load(volume, logger, { pollIntervalMs: 300, watchDirectories: false });
    credentials.watch();
    const port = await tlsPort(credentials);
    volume.swap(b.cert, b.key);
    const ms = await seenWithin(port, fingerprint(b), 300 + 500);
    t.diagnostic(`new certificate served ${ms.toFixed(0)} ms after the swap (poll every 300 ms)`);
  });

  test('plain files rewritten in place, the certificate first and the key a moment later: one rotation, no error logged', async () => {
    const { logger, lines } = capturingLogger();
    const dir = mkdtempSync(join(tmpdir(), 'tls-plain-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const files = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
    writeFileSync(files.certFile, a.cert);
    writeFileSync(files.keyFile, a.key);
    const credentials = load(files, logger, { pollIntervalMs: 60_000 });
    credentials.watch();
    const port = await tlsPort(credentials);
    writeFileSync(files.certFile, b.cert);
    await sleep(20);
    writeFileSync(files.keyFile, b.key);
    await seenWithin(port, fingerprint(b), 1000);
    assert.deepEqual(lines.filter((l) => l.level >= 50), []);
  });

  test('a bad new pair (b\'s certificate, a\'s key) is refused with one error log while the old one keeps serving; a good pair after it is taken', async () => {
    const { logger, lines } = capturingLogger();
    const volume = new SecretVolume(a);
    const credentials = load(volume, logger, { pollIntervalMs: 100 });
    credentials.watch();
    const port = await tlsPort(credentials);
    volume.swap(b.cert, a.key);
    assert.equal(await credentials.reload(), 'refused');
    await sleep(450); // several polls and the watch's event: still one log line
    const errors = lines.filter((l) => l.level >= 50);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.equal(errors[0].msg, 'TLS certificate not reloaded: keeping the one in use');
    assert.match(String(errors[0].err), /^TLS_KEY_FILE=.*: the key does not match the certificate in TLS_CERT_FILE=/);
    assert.equal(await fingerprintNow(port), fingerprint(a));
    // Junk where the key was: refused too, logged as a new refusal.
    volume.swap(b.cert, Buffer.from('not a key'));
    assert.equal(await credentials.reload(), 'refused');
    assert.equal(lines.filter((l) => l.level >= 50).length, 2);
    assert.equal(await fingerprintNow(port), fingerprint(a));
    // The files gone (the ..data link removed): refused with the read error, once, whatever the polls.
    rmSync(join(volume.dir, '..data'));
    assert.equal(await credentials.reload(), 'refused');
    await sleep(250);
    const gone = lines.filter((l) => l.level >= 50).slice(2);
    assert.equal(gone.length, 1, JSON.stringify(gone));
    assert.match(String(gone[0].err), /^TLS_CERT_FILE=.*tls\.crt: cannot read: ENOENT$/);
    assert.equal(await fingerprintNow(port), fingerprint(a));
    volume.swap(b.cert, b.key);
    await seenWithin(port, fingerprint(b), 1000);
  });

  test('tls.Server: SNICallback serves the current pair to SNI clients, setSecureContext on rotation to clients without SNI', async () => {
    const { logger } = capturingLogger();
    const volume = new SecretVolume(a);
    const credentials = load(volume, logger, { pollIntervalMs: 60_000 });
    const server = createTlsServer({ ...credentials.current.options, SNICallback: credentials.SNICallback, ALPNProtocols: [...ALPN_PROTOCOLS] }, (socket) => socket.end());
    credentials.onRotate((loaded) => server.setSecureContext(loaded.options));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => server.close());
    const port = (server.address() as { port: number }).port;
    volume.swap(b.cert, b.key);
    assert.equal(await credentials.reload(), 'rotated');
    const withSni = await handshake(port, { servername: 'localhost' });
    withSni.socket.destroy();
    assert.equal(withSni.fingerprint256, fingerprint(b));
    // An IP address as the host name: Node sends no SNI, the server's default context answers.
    const withoutSni = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: ca.cert }, () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      });
      socket.once('error', reject);
    });
    assert.equal(withoutSni, fingerprint(b));
  });

  test('startup errors: one line naming the variable', () => {
    const { logger } = capturingLogger();
    const dir = mkdtempSync(join(tmpdir(), 'tls-bad-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, content: Buffer | string): string => {
      writeFileSync(join(dir, name), content);
      return join(dir, name);
    };
    const attempt = (certFile: string, keyFile: string): string => {
      try {
        TlsCredentials.load({ certFile, keyFile, logger }).close();
      } catch (err) {
        assert.ok(err instanceof TlsCredentialsError);
        assert.ok(!err.message.includes('\n'), err.message);
        return err.message;
      }
      return 'loaded';
    };
    assert.equal(attempt(join(dir, 'missing.crt'), file('a.key', a.key)), `TLS_CERT_FILE=${join(dir, 'missing.crt')}: cannot read: ENOENT`);
    assert.equal(attempt(file('a.crt', a.cert), join(dir, 'missing.key')), `TLS_KEY_FILE=${join(dir, 'missing.key')}: cannot read: ENOENT`);
    assert.match(attempt(file('empty.crt', ''), file('a.key', a.key)), /^TLS_CERT_FILE=.*empty\.crt: no PEM certificate/);
    assert.match(attempt(file('a.crt', a.cert), file('junk.key', 'junk')), /^TLS_KEY_FILE=.*junk\.key: no unencrypted PEM private key/);
    assert.match(attempt(file('a.crt', a.cert), file('ca.key', ca.key)), /^TLS_KEY_FILE=.*ca\.key: the key does not match the certificate in TLS_CERT_FILE=/);
    assert.match(attempt(file('key-as-cert.crt', a.key), file('a.key', a.key)), /^TLS_CERT_FILE=.*: no PEM certificate/);
    assert.equal(attempt(file('a.crt', a.cert), file('a.key', a.key)), 'loaded');
  });
});
