/**
 * A Redis client on a raw socket (RESP2), for tests that must control the
 * connection itself: when it is idle, when it half-closes, how it ends (FIN or
 * reset); the socket side is test/helpers/socket-client.ts. Replies are read
 * in order; a reply's error is a `RespError` value.
 */
import { openSocket, type Parsed, SocketClient } from '../helpers/socket-client.ts';

export class RespError {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

export type Reply = string | number | null | RespError | Reply[];

export class RespClient extends SocketClient {
  /** Connects with allowHalfOpen: the client decides when its own write side ends. */
  static async connect(port: number): Promise<RespClient> {
    return new RespClient(await openSocket(port, { noDelay: true }));
  }

  /** Writes one command without waiting for its reply. */
  send(...args: Array<string | Buffer>): void {
    this.write(encode(args));
  }

  async command(...args: Array<string | Buffer>): Promise<Reply> {
    this.send(...args);
    return this.reply();
  }

  /** The next reply in order; rejects if the connection ends first or nothing comes within `timeoutMs`. */
  reply(timeoutMs = 5000): Promise<Reply> {
    return this.read((bytes) => parse(bytes, 0), 'a reply', timeoutMs);
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
function parse(buffer: Buffer, offset: number): Parsed<Reply> | undefined {
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
