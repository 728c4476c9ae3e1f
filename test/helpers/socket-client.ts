/**
 * The socket side of the raw test clients (HTTP/1.1 in raw-client.ts, RESP in
 * test/tcp/resp-client.ts): a connection opened with allowHalfOpen, so a test
 * decides when its own write side ends; the bytes received and not yet read;
 * how the connection ended. A subclass reads its protocol with `read(parse)`.
 */
import { connect, type Socket } from 'node:net';
import { Wakeup } from './wakeup.ts';

export interface Closed {
  /** performance.now() when the socket closed. */
  readonly at: number;
  /** The first error code it had (ECONNRESET for a reset), or null for a clean close. */
  readonly error: string | null;
}

/** A value parsed from the unread bytes, and where it ends in them. */
export interface Parsed<T> {
  readonly value: T;
  readonly end: number;
}

export interface ConnectOptions {
  readonly host?: string;
  readonly noDelay?: boolean;
}

/** Resolves once connected, with allowHalfOpen; rejects when the connect fails. */
export function openSocket(port: number, options: ConnectOptions = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: options.host ?? '127.0.0.1', allowHalfOpen: true, noDelay: options.noDelay ?? false });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

export class SocketClient {
  readonly socket: Socket;
  /** Resolves when the socket closes. */
  readonly closed: Promise<Closed>;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  readonly #wakeup = new Wakeup();

  protected constructor(socket: Socket) {
    this.socket = socket;
    let error: string | null = null;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#wakeup.notify();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    socket.on('end', () => {
      // As HTTP and Redis clients do: the server's FIN ends the connection (allowHalfOpen only lets a test half-close first).
      this.#ended = true;
      socket.end();
      this.#wakeup.notify();
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#ended = true;
        this.#wakeup.notify();
        resolve({ at: performance.now(), error });
      }),
    );
  }

  /** The peer has ended the connection (or it closed): no more bytes will come. */
  get isClosed(): boolean {
    return this.#ended;
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Everything received and not yet read, one char per byte. */
  get unread(): string {
    return this.#buffer.toString('latin1');
  }

  /**
   * Resolves with the first value `parse` finds in the unread bytes, which are
   * then read up to its `end`; waits for more bytes while it finds none (returns
   * undefined). Rejects when the connection ends first or nothing comes within
   * `timeoutMs`.
   */
  protected async read<T>(parse: (bytes: Buffer) => Parsed<T> | undefined, what: string, timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const parsed = parse(this.#buffer);
      if (parsed !== undefined) {
        this.#buffer = this.#buffer.subarray(parsed.end);
        return parsed.value;
      }
      if (this.#ended) throw new Error(`connection ended before ${what} (had ${JSON.stringify(this.#buffer.toString('latin1'))})`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await this.#wakeup.wait(left);
    }
  }
}
