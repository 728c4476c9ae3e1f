/**
 * The tests' certificates: the CA and leaves of harness/certificates.ts (made
 * by openssl at test time, no key is committed), their fingerprints, and a
 * Secret volume to serve and rotate them from.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa, makeLeaf, type Pem } from '../../harness/certificates.ts';

export { ensureOpenssl, makeCa, makeLeaf, type Pem } from '../../harness/certificates.ts';

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

/**
 * What a TLS test serves: a CA and a leaf signed by it (`served`) in a fresh
 * directory, the leaf in a Secret volume, and the variables that point
 * drain-proxy at it. `remove` deletes the lot.
 */
export class TlsFixture {
  readonly dir = mkdtempSync(join(tmpdir(), 'tls-fixture-'));
  readonly ca = makeCa(this.dir);
  readonly caFile = join(this.dir, 'ca.crt');
  readonly leaf = makeLeaf(this.dir, 'served');
  readonly volume = new SecretVolume(this.leaf);

  /** TLS_CERT_FILE and TLS_KEY_FILE, through the Secret volume. */
  get env(): Record<string, string> {
    return { TLS_CERT_FILE: this.volume.certFile, TLS_KEY_FILE: this.volume.keyFile };
  }

  remove(): void {
    this.volume.remove();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
