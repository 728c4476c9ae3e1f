/**
 * A Redis client on a raw socket (RESP2), for tests that must control the
 * connection itself: when it is idle, when it half-closes, how it ends (FIN or
 * reset). Replies are read in order; a reply's error is a `RespError` value.
 */
import { connect, type Socket } from 'node:net';

export class RespError {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

export type Reply = string | number | null | RespError | Reply[];

export class RespClient {
  readonly socket: Socket;
  /** Resolves when the socket closes: when, and the error code if it ended with one (ECONNRESET for a reset). */
  readonly closed: Promise<{ at: number; error: string | null }>;
  readonly #replies: Reply[] = [];
  #buffer: Buffer = Buffer.alloc(0);
  #waiter: (() => void) | null = null;
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    let error: string | null = null;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      for (;;) {
        const parsed = parse(this.#buffer, 0);
        if (parsed === undefined) break;
        this.#replies.push(parsed.value);
        this.#buffer = this.#buffer.subarray(parsed.end);
      }
      this.#waiter?.();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    socket.on('end', () => {
      // As Redis clients do: the server's FIN ends the connection (allowHalfOpen only lets a test half-close first).
      this.#ended = true;
      socket.end();
      this.#waiter?.();
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#ended = true;
        this.#waiter?.();
        resolve({ at: performance.now(), error });
      }),
    );
  }

  /** Connects with allowHalfOpen: the client decides when its own write side ends. */
  static connect(port: number): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
      socket.once('connect', () => resolve(new RespClient(socket)));
      socket.once('error', reject);
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Writes one command without waiting for its reply. */
  send(...args: Array<string | Buffer>): void {
    this.socket.write(encode(args));
  }

  async command(...args: Array<string | Buffer>): Promise<Reply> {
    this.send(...args);
    return this.reply();
  }

  /** The next reply in order; rejects if the connection ends first or nothing comes within `timeoutMs`. */
  async reply(timeoutMs = 5000): Promise<Reply> {
    const deadline = performance.now() + timeoutMs;
    while (this.#replies.length === 0) {
      if (this.#ended) throw new Error('connection ended before a reply');
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = null;
    }
    return this.#replies.shift()!;
  }
}

export function encode(args: ReadonlyArray<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** One RESP2 value at `offset`, or undefined while incomplete. */
function parse(buffer: Buffer, offset: number): { value: Reply; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset]);
  const text = buffer.toString('latin1', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: text, end: next };
    case '-':
      return { value: new RespError(text), end: next };
    case ':':
      return { value: Number(text), end: next };
    case '$': {
      const length = Number(text);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('latin1', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(text);
      if (count < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`not RESP: ${JSON.stringify(buffer.toString('latin1', offset, Math.min(buffer.length, offset + 40)))}`);
  }
}
