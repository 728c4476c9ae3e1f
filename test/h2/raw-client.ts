/**
 * A raw HTTP/2 client that writes exact frames and records every frame it
 * receives: for what no well-behaved client library will do, such as opening
 * a stream after the server's final GOAWAY. It acknowledges SETTINGS and PING
 * like any client.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { PREFACE } from '../../src/listeners/sniff.ts';

export const DATA = 0x0;
export const HEADERS = 0x1;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** A GET request's header block in HPACK: :method GET, :scheme http (static table), :path and :authority as literals. */
export function getHeaderBlock(path: string, authority = 'proxy'): Buffer {
  const literal = (index: number, value: string): Buffer => Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value, 'latin1')]);
  return Buffer.concat([Buffer.from([0x82, 0x86]), literal(0x04, path), literal(0x01, authority)]);
}

export class RawH2Client {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  #pending = Buffer.alloc(0);
  #listeners: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<RawH2Client> {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    await once(socket, 'connect');
    const client = new RawH2Client(socket);
    socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));
    return client;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves with the first received frame matching `match`, waiting at most `timeoutMs`. */
  async waitFor(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found !== undefined || performance.now() > deadline) return found;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - performance.now()));
        this.#listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  #onData(chunk: Buffer): void {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= 9) {
      const length = this.#pending.readUIntBE(0, 3);
      if (this.#pending.length < 9 + length) break;
      const f: Frame = {
        type: this.#pending[3],
        flags: this.#pending[4],
        stream: this.#pending.readUInt32BE(5) & 0x7fffffff,
        payload: this.#pending.subarray(9, 9 + length),
      };
      this.#pending = this.#pending.subarray(9 + length);
      this.frames.push(f);
      if (f.type === SETTINGS && (f.flags & ACK) === 0) this.send(frame(SETTINGS, ACK, 0));
      if (f.type === PING && (f.flags & ACK) === 0) this.send(frame(PING, ACK, 0, f.payload));
    }
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener();
  }
}
