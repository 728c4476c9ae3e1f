/**
 * Follows the frames of one direction of a WebSocket connection (RFC 6455
 * §5.2) without touching what it forwards: it reads frame headers only and
 * skips payloads arithmetically, so the proxy always knows whether the stream
 * is between frames (the only place a frame of its own may be inserted) and
 * sees close frames go by. Payloads are not copied or unmasked, except the
 * few bytes of a close frame.
 *
 *   HEADER ──2..14 bytes──▶ PAYLOAD ──length bytes──▶ HEADER   (boundary)
 *      └── unparseable header ──▶ LOST (the stream is forwarded as it is, untracked)
 */

export const OPCODE_CLOSE = 0x8;

const S_HEADER = 0;
const S_PAYLOAD = 1;
const S_LOST = 2;

export interface CloseFrame {
  /** The status code, or undefined for a close frame without one. */
  readonly code: number | undefined;
  readonly reason: string;
}

/** Told of each close frame a tracker has read whole (one listener for both directions of a connection). */
export interface CloseFrameListener {
  closeFrameRead(tracker: FrameTracker, frame: CloseFrame): void;
}

export class FrameTracker {
  readonly #listener: CloseFrameListener | null;
  #state = S_HEADER;
  readonly #header = Buffer.alloc(14);
  #headerLength = 0;
  #headerNeeded = 2;
  #remaining = 0;
  #opcode = 0;
  #masked = false;
  #close: Buffer | null = null;
  #closeLength = 0;

  constructor(listener: CloseFrameListener | null = null) {
    this.#listener = listener;
  }

  /** Between two frames: a frame may be inserted here. */
  get atBoundary(): boolean {
    return this.#state === S_HEADER && this.#headerLength === 0;
  }

  /** The stream could not be followed (a malformed header); nothing may be inserted any more. */
  get lost(): boolean {
    return this.#state === S_LOST;
  }

  /** Reads a whole chunk. */
  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && this.#state !== S_LOST) pos = this.advance(chunk, pos);
  }

  /**
   * Reads from `pos` up to the end of the frame in progress and returns the
   * position right after it, or `chunk.length` when the chunk ends first.
   */
  advance(chunk: Buffer, pos: number): number {
    const end = chunk.length;
    while (pos < end) {
      if (this.#state === S_LOST) return end;
      if (this.#state === S_HEADER) {
        pos = this.#readHeader(chunk, pos);
        if (this.#state === S_HEADER && this.#headerLength === 0) return pos; // an empty frame ended
        continue;
      }
      const take = Math.min(this.#remaining, end - pos);
      if (this.#close !== null) this.#collectClose(chunk, pos, take);
      pos += take;
      this.#remaining -= take;
      if (this.#remaining === 0) {
        this.#frameEnded();
        return pos;
      }
    }
    return pos;
  }

  #readHeader(chunk: Buffer, pos: number): number {
    const header = this.#header;
    while (pos < chunk.length && this.#headerLength < this.#headerNeeded) {
      header[this.#headerLength++] = chunk[pos++];
      if (this.#headerLength === 2) {
        const length7 = header[1] & 0x7f;
        this.#masked = (header[1] & 0x80) !== 0;
        this.#headerNeeded = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (this.#masked ? 4 : 0);
      }
    }
    if (this.#headerLength < this.#headerNeeded) return pos;
    const length7 = header[1] & 0x7f;
    let length: number;
    if (length7 === 126) {
      length = header.readUInt16BE(2);
    } else if (length7 === 127) {
      const high = header.readUInt32BE(2);
      if (high > 0x1fffff) {
        this.#state = S_LOST; // beyond 2^53: not a length any real peer sends
        return chunk.length;
      }
      length = high * 0x1_0000_0000 + header.readUInt32BE(6);
    } else {
      length = length7;
    }
    this.#opcode = header[0] & 0x0f;
    if (this.#opcode >= 0x8 && length > 125) {
      this.#state = S_LOST; // control frames carry at most 125 bytes
      return chunk.length;
    }
    this.#close = this.#opcode === OPCODE_CLOSE ? Buffer.alloc(length) : null;
    this.#closeLength = 0;
    this.#remaining = length;
    this.#state = S_PAYLOAD;
    if (length === 0) this.#frameEnded();
    return pos;
  }

  #collectClose(chunk: Buffer, pos: number, take: number): void {
    this.#closeLength += chunk.copy(this.#close!, this.#closeLength, pos, pos + take);
  }

  #frameEnded(): void {
    const close = this.#close;
    const maskAt = this.#headerNeeded - 4;
    this.#state = S_HEADER;
    this.#headerLength = 0;
    this.#headerNeeded = 2;
    this.#close = null;
    if (close === null) return;
    if (this.#masked) for (let i = 0; i < close.length; i++) close[i] ^= this.#header[maskAt + (i & 3)];
    this.#listener?.closeFrameRead(this, {
      code: close.length >= 2 ? close.readUInt16BE(0) : undefined,
      reason: close.length > 2 ? close.toString('utf8', 2) : '',
    });
  }
}

/** An unmasked close frame, as a server sends it. */
export function closeFrame(code: number, reason: string): Buffer {
  const reasonBytes = Buffer.from(reason, 'utf8');
  const frame = Buffer.alloc(4 + reasonBytes.length);
  frame[0] = 0x80 | OPCODE_CLOSE;
  frame[1] = 2 + reasonBytes.length;
  frame.writeUInt16BE(code, 2);
  reasonBytes.copy(frame, 4);
  return frame;
}
