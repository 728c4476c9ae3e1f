/**
 * Certificates made by Debian's openssl when they are needed (no key is committed): a CA and
 * leaves for localhost and 127.0.0.1 signed by it, ECDSA P-256. The tests serve TLS with them,
 * and the bench gives drain-proxy and nginx the same pair.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandExists, ensurePackage } from './debian.ts';

/** Installs openssl when missing; returns why the caller must skip, or undefined. */
export function ensureOpenssl(): string | undefined {
  return ensurePackage('openssl', () => commandExists('openssl'));
}

export interface Pem {
  readonly cert: Buffer;
  readonly key: Buffer;
}

function openssl(args: readonly string[]): void {
  const run = spawnSync('openssl', args, { encoding: 'utf8', timeout: 20_000 });
  if (run.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${run.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed CA in `dir` (ca.crt, ca.key). */
export function makeCa(dir: string, name = 'ca'): Pem {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl(['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-subj', `/CN=drain-proxy test ${name}`, '-days', '2']);
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

/**
 * A leaf for DNS:localhost and IP:127.0.0.1 signed by the CA made in `dir`;
 * `cert` is the leaf followed by the CA (a chain, as servers are given one).
 */
export function makeLeaf(dir: string, name: string, ca = 'ca'): Pem {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl([
    'req', '-x509', '-CA', join(dir, `${ca}.crt`), '-CAkey', join(dir, `${ca}.key`), ...EC,
    '-keyout', key, '-out', cert, '-subj', `/CN=localhost/O=${name}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '2',
  ]);
  return { cert: Buffer.concat([readFileSync(cert), readFileSync(join(dir, `${ca}.crt`))]), key: readFileSync(key) };
}
