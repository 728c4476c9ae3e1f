/**
 * A client on a raw socket, for tests that must see exactly what the proxy
 * sends: status line, headers as received, and when the connection closes.
 * Responses are read with Content-Length framing (the test upstream always
 * sends it) or until close.
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly head: string;
}

export class RawClient {
  readonly socket: Socket;
  readonly closed: Promise<{ at: number; error: string | null }>;
  #buffer = Buffer.alloc(0);
  #waiter: (() => void) | null = null;
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#waiter?.();
    });
    let error: string | null = null;
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('end', () => {
      // As HTTP clients do: the server's FIN ends the connection (allowHalfOpen only lets tests see it first).
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

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, allowHalfOpen: true });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#ended;
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  async request(path: string, headers = ''): Promise<RawResponse> {
    this.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n${headers}\r\n`);
    return this.response();
  }

  /** Reads one response; rejects when the connection ends first. */
  async response(options: { bodyless?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const deadline = performance.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      const parsed = this.#parse(options.bodyless ?? false);
      if (parsed !== null) return parsed;
      if (this.#ended) throw new Error(`connection closed before a complete response (had ${JSON.stringify(this.#buffer.toString('latin1'))})`);
      if (performance.now() > deadline) throw new Error('timed out waiting for a response');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = null;
    }
  }

  /** Everything received and not yet parsed as a response. */
  get unread(): string {
    return this.#buffer.toString('latin1');
  }

  #parse(bodyless: boolean): RawResponse | null {
    const text = this.#buffer.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = text.slice(0, end);
    const [statusLine, ...lines] = head.split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = bodyless ? '0' : headers['content-length'];
    let bodyEnd: number;
    if (length !== undefined) {
      bodyEnd = end + 4 + Number(length);
      if (this.#buffer.length < bodyEnd) return null;
    } else {
      if (!this.#ended) return null;
      bodyEnd = this.#buffer.length;
    }
    const body = this.#buffer.subarray(end + 4, bodyEnd).toString('latin1');
    this.#buffer = this.#buffer.subarray(bodyEnd);
    return { status: Number(statusLine.split(' ')[1]), headers, body, head };
  }

  destroy(): void {
    this.socket.destroy();
  }
}
