/**
 * Certificates made by Debian's openssl at test time (no key is committed): a
 * test CA and leaves for localhost and 127.0.0.1 signed by it, ECDSA P-256.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandExists, ensurePackage } from '../../harness/debian.ts';

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

/** The leaf's SHA-256 fingerprint, as `getPeerCertificate().fingerprint256` writes it. */
export const fingerprint = (pem: Pem): string => new X509Certificate(pem.cert).fingerprint256;

/**
 * A Secret volume as the kubelet lays it out: `tls.crt` and `tls.key` are
 * symlinks through `..data`, itself a symlink to a timestamped directory.
 * `swap` writes the next directory and renames a fresh symlink over `..data`
 * (one atomic step), then removes the old directory, as the kubelet does.
 */
export class SecretVolume {
  readonly dir: string;
  #generation = 0;
  #current = '';

  constructor(pair: Pem) {
    this.dir = mkdtempSync(join(tmpdir(), 'secret-volume-'));
    this.#current = this.#write(pair);
    symlinkSync(this.#current, join(this.dir, '..data'));
    symlinkSync('..data/tls.crt', join(this.dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(this.dir, 'tls.key'));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  get certFile(): string {
    return join(this.dir, 'tls.crt');
  }

  get keyFile(): string {
    return join(this.dir, 'tls.key');
  }

  swap(cert: Buffer, key: Buffer): void {
    const next = this.#write({ cert, key });
    symlinkSync(next, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    rmSync(join(this.dir, this.#current), { recursive: true });
    this.#current = next;
  }

  #write(pair: Pem): string {
    const name = `..2026_12_02_06_00_00.${String(++this.#generation).padStart(9, '0')}`;
    mkdirSync(join(this.dir, name));
    writeFileSync(join(this.dir, name, 'tls.crt'), pair.cert);
    writeFileSync(join(this.dir, name, 'tls.key'), pair.key);
    return name;
  }
}

