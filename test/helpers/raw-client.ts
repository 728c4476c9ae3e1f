/**
 * A client on a raw socket, for tests that must see exactly what the proxy
 * sends: status line, headers as received, and when the connection closes.
 * Responses are read with Content-Length framing (the test upstream always
 * sends it) or until close.
 */
import { openSocket, type Parsed, SocketClient } from './socket-client.ts';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly head: string;
}

export class RawClient extends SocketClient {
  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new RawClient(await openSocket(port, { host }));
  }

  async request(path: string, headers = ''): Promise<RawResponse> {
    this.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n${headers}\r\n`);
    return this.response();
  }

  /** Reads one response; rejects when the connection ends first. */
  response(options: { bodyless?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    return this.read((buffer) => this.#parse(buffer, options.bodyless ?? false), 'a complete response', options.timeoutMs ?? 10_000);
  }

  #parse(buffer: Buffer, bodyless: boolean): Parsed<RawResponse> | undefined {
    const text = buffer.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
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
      if (buffer.length < bodyEnd) return undefined;
    } else {
      if (!this.isClosed) return undefined;
      bodyEnd = buffer.length;
    }
    const body = buffer.subarray(end + 4, bodyEnd).toString('latin1');
    return { value: { status: Number(statusLine.split(' ')[1]), headers, body, head }, end: bodyEnd };
  }
}
