/**
 * The certificate and key the public ports terminate TLS with: TLS_CERT_FILE
 * (PEM, the leaf first and its chain after it) and TLS_KEY_FILE (PEM,
 * unencrypted), loaded into a `tls.SecureContext` with Mozilla's
 * "intermediate" settings, and re-read when they change without dropping a
 * connection: a TLS connection keeps the context it was accepted with, new
 * handshakes get the current one.
 *
 * Changes are seen two ways:
 * - `fs.watch` on the directories holding the files. A Kubernetes Secret
 *   volume replaces its files by writing a new `..2026_…` directory and
 *   renaming a `..data` symlink over the old one; the files named in the
 *   variables are symlinks through `..data`, so watching them would follow
 *   the old target and go quiet, while the directory sees the rename. Events
 *   are debounced (DEBOUNCE_MS) so that a writer replacing the two files one
 *   after the other is read once both are in place.
 * - A poll every POLL_INTERVAL_MS reading both files, for filesystems where
 *   `fs.watch` reports nothing (some network and overlay mounts) and for a
 *   watcher that died.
 *
 * Serving: a `tls.Server` that does not listen, fed the accepted sockets
 * (`server.emit('connection', socket)`, after any PROXY header, its remainder
 * put back with `unshift`), made with `{ ...current.options, SNICallback,
 * ALPNProtocols }` and given each new pair with `onRotate((l) =>
 * server.setSecureContext(l.options))`: SNI handshakes read `context` at
 * once, the others get the server's default context. (A bare
 * `new TLSSocket(socket, { isServer: true })` serves HTTP/1.1, but node:http2
 * given one after its handshake opens a session that never sees a stream, on
 * Node 24.21.)
 *
 * A pair is used only when the key matches the leaf certificate and OpenSSL
 * accepts both; otherwise the previous context stays and the refusal is
 * logged once per distinct bad pair or read error (the poll would otherwise
 * repeat it).
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { watch, type FSWatcher, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../log/index.ts';

/**
 * Mozilla Server Side TLS guidelines 6.0, "intermediate"
 * (https://ssl-config.mozilla.org/guidelines/6.0.json): TLS 1.2 and 1.3,
 * ECDHE with AES-GCM or ChaCha20-Poly1305 only for TLS 1.2, the three TLS 1.3
 * suites, X25519MLKEM768 first among the groups (OpenSSL 3.5, which Node 24
 * bundles), and the client's cipher preference.
 */
export const INTERMEDIATE = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  ecdhCurve: 'X25519MLKEM768:X25519:prime256v1:secp384r1',
  honorCipherOrder: false,
} as const satisfies SecureContextOptions;

/** What a TLS port offers by ALPN: HTTP/2 first, then HTTP/1.1. */
export const ALPN_PROTOCOLS: readonly string[] = ['h2', 'http/1.1'];

export const POLL_INTERVAL_MS = 2000;
export const DEBOUNCE_MS = 100;

/** A bad certificate or key, one line naming the variable. */
export class TlsCredentialsError extends Error {
  override readonly name = 'TlsCredentialsError';
}

/** A loaded pair: its context and what logs and tests identify it by. */
export interface LoadedCredentials {
  readonly context: SecureContext;
  /** The options the context was made from (INTERMEDIATE, cert and key), for `tls.Server.setSecureContext`. */
  readonly options: SecureContextOptions;
  readonly subject: string;
  /** SHA-256 fingerprint of the leaf, as `getPeerCertificate().fingerprint256` writes it. */
  readonly fingerprint256: string;
  readonly validTo: string;
}

export interface TlsCredentialsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly logger: Logger;
  readonly pollIntervalMs?: number;
  readonly debounceMs?: number;
  /** Off: the poll alone (for tests of the fallback). */
  readonly watchDirectories?: boolean;
}

export type ReloadOutcome = 'unchanged' | 'rotated' | 'refused';

export class TlsCredentials {
  readonly #options: TlsCredentialsOptions;
  #current: LoadedCredentials;
  /** The bytes in use, to tell a change from a touch. */
  #cert: Buffer;
  #key: Buffer;
  /** What was refused last (a read error, a bad pair's digest), so that files left bad are logged once. */
  #lastRefusal: string | null = null;
  #watchers: FSWatcher[] = [];
  #poll: NodeJS.Timeout | null = null;
  #debounce: NodeJS.Timeout | null = null;
  /** A reload is running; `#again` asks for one more after it (a change seen meanwhile). */
  #reloading: Promise<ReloadOutcome> | null = null;
  #again = false;
  #listeners: Array<(loaded: LoadedCredentials) => void> = [];
  #watchWarned = false;
  #closed = false;

  private constructor(options: TlsCredentialsOptions, cert: Buffer, key: Buffer, loaded: LoadedCredentials) {
    this.#options = options;
    this.#cert = cert;
    this.#key = key;
    this.#current = loaded;
  }

  /** Reads and checks the pair at startup; throws a TlsCredentialsError naming the variable. Call `watch()` to follow changes. */
  static load(options: TlsCredentialsOptions): TlsCredentials {
    const cert = readPemSync('TLS_CERT_FILE', options.certFile);
    const key = readPemSync('TLS_KEY_FILE', options.keyFile);
    const loaded = credentialsFrom(options, cert, key);
    options.logger.info({ subject: loaded.subject, fingerprint256: loaded.fingerprint256, validTo: loaded.validTo }, 'TLS certificate loaded');
    return new TlsCredentials(options, cert, key, loaded);
  }

  /** The pair in use now. */
  get current(): LoadedCredentials {
    return this.#current;
  }

  /** The context a new handshake gets (what SNICallback answers). */
  get context(): SecureContext {
    return this.#current.context;
  }

  /** For `tls.createServer({ SNICallback })`: every SNI handshake gets the current context. */
  readonly SNICallback = (_servername: string, callback: (err: Error | null, context?: SecureContext) => void): void => {
    callback(null, this.#current.context);
  };

  /** Called with each new pair once it is in use. */
  onRotate(listener: (loaded: LoadedCredentials) => void): void {
    this.#listeners.push(listener);
  }

  /** Starts following the files: directory watches (unless disabled) and the poll. */
  watch(): void {
    if (this.#closed || this.#poll !== null) return;
    if (this.#options.watchDirectories !== false) this.#watchDirectories();
    this.#poll = setInterval(() => {
      if (this.#options.watchDirectories !== false && this.#watchers.length === 0) this.#watchDirectories();
      void this.reload();
    }, this.#options.pollIntervalMs ?? POLL_INTERVAL_MS);
    this.#poll.unref();
  }

  close(): void {
    this.#closed = true;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
    if (this.#poll !== null) clearInterval(this.#poll);
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#poll = null;
    this.#debounce = null;
  }

  /** Re-reads both files now; a new valid pair becomes the current one. */
  reload(): Promise<ReloadOutcome> {
    if (this.#reloading !== null) {
      this.#again = true;
      return this.#reloading;
    }
    const run = this.#reload().finally(() => {
      this.#reloading = null;
      if (this.#again && !this.#closed) {
        this.#again = false;
        void this.reload();
      }
    });
    this.#reloading = run;
    return run;
  }

  async #reload(): Promise<ReloadOutcome> {
    const { certFile, keyFile, logger } = this.#options;
    const [certRead, keyRead] = await Promise.allSettled([readPem('TLS_CERT_FILE', certFile), readPem('TLS_KEY_FILE', keyFile)]);
    // Deleted, or replaced by a writer that is not atomic: the pair in use stays; the next event or poll tries again.
    // The certificate's error first whichever read failed first, so that a lasting failure is the same refusal each time.
    if (certRead.status === 'rejected') return this.#refused((certRead.reason as Error).message, certRead.reason as Error);
    if (keyRead.status === 'rejected') return this.#refused((keyRead.reason as Error).message, keyRead.reason as Error);
    const cert = certRead.value;
    const key = keyRead.value;
    if (this.#closed) return 'unchanged';
    if (cert.equals(this.#cert) && key.equals(this.#key)) {
      this.#lastRefusal = null;
      return 'unchanged';
    }
    let loaded: LoadedCredentials;
    try {
      loaded = credentialsFrom(this.#options, cert, key);
    } catch (err) {
      return this.#refused(createHash('sha256').update(cert).update(key).digest('hex'), err as Error);
    }
    const previous = this.#current;
    this.#cert = cert;
    this.#key = key;
    this.#current = loaded;
    this.#lastRefusal = null;
    logger.info(
      { subject: loaded.subject, fingerprint256: loaded.fingerprint256, validTo: loaded.validTo, previousFingerprint256: previous.fingerprint256 },
      'TLS certificate rotated',
    );
    for (const listener of this.#listeners) listener(loaded);
    return 'rotated';
  }

  /** Logs a refusal unless it is the one logged last (`what`: the read error, or a digest of the bad pair). */
  #refused(what: string, err: Error): ReloadOutcome {
    if (what !== this.#lastRefusal) {
      this.#lastRefusal = what;
      this.#options.logger.error(
        { err: err.message, certFile: this.#options.certFile, keyFile: this.#options.keyFile, fingerprint256: this.#current.fingerprint256 },
        'TLS certificate not reloaded: keeping the one in use',
      );
    }
    return 'refused';
  }

  #watchDirectories(): void {
    const directories = new Set([dirname(this.#options.certFile), dirname(this.#options.keyFile)]);
    for (const directory of directories) {
      let watcher: FSWatcher;
      try {
        watcher = watch(directory, { persistent: false });
      } catch (err) {
        // The poll retries the watch at each tick: say so once.
        if (!this.#watchWarned) this.#options.logger.warn({ directory, err: (err as Error).message }, 'cannot watch the TLS directory; polling only');
        this.#watchWarned = true;
        continue;
      }
      watcher.on('change', () => this.#changed());
      watcher.on('error', () => {
        watcher.close();
        this.#watchers = this.#watchers.filter((w) => w !== watcher);
      });
      this.#watchers.push(watcher);
    }
  }

  #changed(): void {
    if (this.#closed) return;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      void this.reload();
    }, this.#options.debounceMs ?? DEBOUNCE_MS);
    this.#debounce.unref();
  }
}

function readFailure(variable: string, path: string, err: unknown): TlsCredentialsError {
  return new TlsCredentialsError(`${variable}=${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
}

function readPemSync(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw readFailure(variable, path, err);
  }
}

async function readPem(variable: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw readFailure(variable, path, err);
  }
}

/** Checks the pair and makes its context; throws a TlsCredentialsError saying which file is wrong. */
function credentialsFrom(options: TlsCredentialsOptions, cert: Buffer, key: Buffer): LoadedCredentials {
  const certName = `TLS_CERT_FILE=${options.certFile}`;
  const keyName = `TLS_KEY_FILE=${options.keyFile}`;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new TlsCredentialsError(`${certName}: no PEM certificate (${(err as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsCredentialsError(`${keyName}: no unencrypted PEM private key (${(err as Error).message})`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new TlsCredentialsError(`${keyName}: the key does not match the certificate in ${certName}`);
  const contextOptions: SecureContextOptions = { ...INTERMEDIATE, cert, key };
  let context: SecureContext;
  try {
    context = createSecureContext(contextOptions);
  } catch (err) {
    throw new TlsCredentialsError(`${certName}, ${keyName}: ${(err as Error).message}`);
  }
  return { context, options: contextOptions, subject: leaf.subject.replaceAll('\n', ', '), fingerprint256: leaf.fingerprint256, validTo: leaf.validTo };
}
