/**
 * Incremental HTTP/1.1 framing for a byte-forwarding proxy.
 *
 * A framer is fed the chunks one side of a connection sends and tells its sink
 * where each message starts and ends. Heads are held back until they are
 * complete and valid (so an ambiguous message is never forwarded, not even in
 * part), then passed on as received or rewritten by the sink. Body bytes are
 * passed on as views of the chunks they arrived in: never copied, never
 * buffered beyond the chunk being parsed.
 *
 * The parser is a loop over explicit states. Heads are scanned line by line
 * with `indexOf` (native); chunk-size lines and trailers, which are short and
 * rare, byte by byte.
 */
import type { ErrorCode } from '../errors.ts';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  FIELD_VALUE,
  HeadReader,
  type MessageHead,
  TOKEN,
} from './head.ts';
import { Fifo } from './fifo.ts';

/** What the sink wants after a message: go on, stop for good, or hold further bytes. */
export const CONTINUE = 0;
export const STOP = 1;
export const PAUSE = 2;
export type Verdict = typeof CONTINUE | typeof STOP | typeof PAUSE;

export interface FramerSink {
  /** A complete, valid head. Returns replacement bytes, or undefined to pass the head on as received. */
  onHead(head: MessageHead): Buffer | undefined;
  /** Bytes to forward, in order: heads (as received or replaced) and body views. */
  onData(bytes: Buffer): void;
  /** The message ended; everything of it has gone through `onData`. */
  onMessageComplete(head: MessageHead): Verdict;
  /** The stream is malformed or ambiguous here; nothing from this point on was forwarded. */
  onError(code: ErrorCode): void;
  /**
   * While `watchChunkEnds` is set: a chunk of a chunked body and its CRLF went
   * through. Returning true stops the framer right there (nothing after it is
   * forwarded): the proxy ends the message itself.
   */
  onChunkEnd?(): boolean;
  /**
   * A chunked body's trailer section, when it has fields: its lines as
   * received, each with its CRLF (the final empty line left out), a copy,
   * given before `onMessageComplete`. For a sink that translates messages
   * (HTTP/2); the HTTP/1.1 path forwards trailers as bytes and sets none.
   */
  onTrailers?(section: Buffer): void;
}

/** Sees the payload bytes of bodies (after de-chunking) while set; never copies them. */
export type BodyObserver = (chunk: Buffer, start: number, end: number) => void;

export interface FramerLimits {
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

const S_HEAD = 0;
const S_BODY_LENGTH = 1;
const S_CHUNK_SIZE = 2;
const S_CHUNK_SIZE_LF = 3;
const S_EXT_NAME_START = 4;
const S_EXT_NAME = 5;
const S_EXT_VALUE_START = 6;
const S_EXT_TOKEN = 7;
const S_EXT_QUOTED = 8;
const S_EXT_AFTER_QUOTED = 9;
const S_CHUNK_DATA = 10;
const S_CHUNK_DATA_CR = 11;
const S_CHUNK_DATA_LF = 12;
const S_TRAILER_START = 13;
const S_TRAILER_NAME = 14;
const S_TRAILER_VALUE = 15;
const S_TRAILER_LF = 16;
const S_TRAILERS_END_LF = 17;
const S_UNTIL_CLOSE = 18;
const S_PAUSED = 19;
const S_DEAD = 20;

/** Chunk sizes up to 2^52 - 1: exact in a double, far beyond any real chunk. */
const MAX_CHUNK_SIZE_DIGITS = 13;
const MAX_CHUNK_EXTENSION = 4096;

/** Trailer names that would reframe the message: refused, as llhttp does. */
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding', 'latin1');

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[65 + c] = 10 + c;
  HEX[97 + c] = 10 + c;
}

export abstract class MessageFramer {
  readonly #sink: FramerSink;
  readonly #limits: FramerLimits;
  readonly #reader: HeadReader;
  #state = S_HEAD;
  /** Bytes of the current chunk not yet handed to the sink start here. */
  #passStart = 0;
  /** A head split over chunks, copied here (heads only) until complete. */
  #partial: Buffer | null = null;
  #partialLength = 0;
  /** Offset in the held head where the next line starts. */
  #lineStart = 0;
  #remaining = 0;
  #chunkDigits = 0;
  #lineBytes = 0;
  /** The trailer name read so far: its length, and which framing names it may still be (bit 1: CL, bit 2: TE). */
  #nameLength = 0;
  #framingName = 0;
  #held: Buffer[] = [];
  /** The trailer section gathered so far (only for a sink with `onTrailers`), and where it starts in the chunk being parsed. */
  #trailerParts: Buffer[] | null = null;
  #trailerFrom = 0;
  /** True from the first byte of a message until its end. */
  #inMessage = false;
  bodyObserver: BodyObserver | null = null;
  watchChunkEnds = false;

  constructor(isRequest: boolean, sink: FramerSink, limits: FramerLimits) {
    this.#sink = sink;
    this.#limits = limits;
    this.#reader = new HeadReader(isRequest);
  }

  /** The message being framed, once its head is complete. */
  get head(): MessageHead {
    return this.#reader.head;
  }

  /** Between messages: no byte of a message is pending. */
  get idle(): boolean {
    return !this.#inMessage && this.#state === S_HEAD;
  }

  /** Inside a chunked body, between two chunks: the place a terminating chunk may go. */
  get betweenChunks(): boolean {
    return this.#state === S_CHUNK_SIZE && this.#chunkDigits === 0;
  }

  /** Inside a body delimited by the connection's close. */
  get untilClose(): boolean {
    return this.#state === S_UNTIL_CLOSE;
  }

  /** Inside a message's body (or trailers): its head is done, its end not yet seen. */
  get inBody(): boolean {
    return this.#inMessage && this.#state > S_HEAD && this.#state < S_PAUSED;
  }

  get paused(): boolean {
    return this.#state === S_PAUSED;
  }

  /** Bytes held since the PAUSE. */
  get heldBytes(): number {
    let bytes = 0;
    for (const chunk of this.#held) bytes += chunk.length;
    return bytes;
  }

  /** Paused with bytes of the next message held back (what the sender pipelined): the sender must wait. */
  get holding(): boolean {
    return this.#state === S_PAUSED && this.#held.length > 0;
  }

  /** Head bytes received so far of a message whose head is not complete (0 when none). */
  get pendingHeadBytes(): number {
    return this.#state === S_HEAD ? this.#partialLength : 0;
  }

  /** Responses to HEAD carry no body; the response framer knows which ones those are. */
  protected abstract bodyless(): boolean;
  /** A head is complete and valid; returns an error when it does not fit the exchange. */
  protected abstract accept(head: MessageHead): ErrorCode | undefined;

  push(chunk: Buffer): void {
    if (this.#state === S_PAUSED) {
      this.#held.push(chunk);
      return;
    }
    if (this.#state === S_DEAD) return;
    this.#run(chunk);
  }

  /**
   * The sending side closed. Returns true when that ends things cleanly: between
   * messages, or ending a close-delimited body (the sink sees it complete).
   */
  end(): boolean {
    if (this.#state === S_UNTIL_CLOSE) {
      this.#state = S_DEAD;
      this.#inMessage = false;
      this.#sink.onMessageComplete(this.#reader.head);
      return true;
    }
    const clean = this.idle;
    this.#state = S_DEAD;
    return clean;
  }

  /** Parse again after a PAUSE, starting with the bytes held meanwhile. */
  resume(): void {
    if (this.#state !== S_PAUSED) return;
    this.#state = S_HEAD;
    if (this.#held.length === 0) return;
    const held = this.#held;
    this.#held = [];
    for (let i = 0; i < held.length; i++) {
      if (this.#state === S_PAUSED) {
        this.#held.push(...held.slice(i));
        return;
      }
      this.push(held[i]);
    }
  }

  /** Stop framing for good and hand over the bytes held since the PAUSE (an upgrade). */
  takeHeld(): Buffer[] {
    const held = this.#held;
    this.#held = [];
    this.#state = S_DEAD;
    return held;
  }

  /** Stop for good; nothing more is forwarded. */
  stop(): void {
    this.#state = S_DEAD;
    this.#held = [];
    this.#trailerParts = null;
  }

  #run(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    this.#passStart = 0;
    this.#trailerFrom = 0;
    while (pos < len) {
      switch (this.#state) {
        case S_HEAD:
          pos = this.#readHead(chunk, pos);
          if (pos < 0) return;
          break;
        case S_BODY_LENGTH: {
          const take = Math.min(this.#remaining, len - pos);
          this.bodyObserver?.(chunk, pos, pos + take);
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0 && !this.#complete(chunk, pos)) return;
          break;
        }
        case S_CHUNK_DATA: {
          const take = Math.min(this.#remaining, len - pos);
          this.bodyObserver?.(chunk, pos, pos + take);
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = S_CHUNK_DATA_CR;
          break;
        }
        case S_UNTIL_CLOSE:
          this.bodyObserver?.(chunk, pos, len);
          pos = len;
          break;
        case S_PAUSED:
          this.#flush(chunk, pos);
          this.#held.push(chunk.subarray(pos));
          return;
        case S_DEAD:
          return;
        default:
          pos = this.#chunkedByte(chunk, pos);
          if (pos < 0) return;
      }
    }
    // The chunk ended inside the trailer section: keep what it held of it.
    if (this.#trailerParts !== null) this.#trailerParts.push(Buffer.from(chunk.subarray(this.#trailerFrom)));
    this.#flush(chunk, len);
  }

  #flush(chunk: Buffer, end: number): void {
    const start = this.#passStart;
    if (end > start) this.#sink.onData(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
    this.#passStart = end;
  }

  #fail(chunk: Buffer | null, failedAt: number, code: ErrorCode): -1 {
    if (chunk !== null) this.#flush(chunk, failedAt);
    this.#state = S_DEAD;
    this.#partial = null;
    this.#trailerParts = null;
    this.#sink.onError(code);
    return -1;
  }

  /** Ends the message whose last byte precedes `pos`; false when parsing must stop. */
  #complete(chunk: Buffer, pos: number): boolean {
    this.#flush(chunk, pos);
    this.#inMessage = false;
    this.#state = S_HEAD;
    const verdict = this.#sink.onMessageComplete(this.#reader.head);
    if (verdict === CONTINUE) return true;
    if (verdict === PAUSE) {
      this.#state = S_PAUSED;
      if (pos < chunk.length) this.#held.push(chunk.subarray(pos));
    } else {
      this.#state = S_DEAD;
    }
    return false;
  }

  /**
   * Reads head lines from `pos`. Returns the position after the head's body
   * state was entered, or -1 when the chunk ended inside the head or parsing
   * stopped.
   */
  #readHead(chunk: Buffer, pos: number): number {
    let buf: Buffer;
    let base: number;
    let consumedBefore: number;
    const limit = this.#limits.maxHeaderSize;
    if (this.#partial !== null && this.#partialLength === 1 && this.#partial[0] === CR && chunk[pos] === LF) {
      // An empty line before the start line, split between chunks: drop it as a whole one would be.
      this.#partial = null;
      this.#partialLength = 0;
      this.#inMessage = false;
      this.#passStart = ++pos;
    }
    if (this.#partial === null) {
      // Leading empty lines before a request line are dropped (RFC 9112 §2.2).
      while (chunk[pos] === CR && chunk[pos + 1] === LF) {
        this.#flush(chunk, pos);
        pos += 2;
        this.#passStart = pos;
      }
      if (pos >= chunk.length) return pos;
      this.#inMessage = true;
      buf = chunk;
      base = pos;
      consumedBefore = 0;
      this.#lineStart = pos;
      this.#reader.reset();
    } else {
      const room = Math.min(chunk.length - pos, limit + 2 - this.#partialLength);
      this.#partial = grow(this.#partial, this.#partialLength + room);
      chunk.copy(this.#partial, this.#partialLength, pos, pos + room);
      consumedBefore = pos - this.#partialLength;
      this.#partialLength += room;
      buf = this.#partial.subarray(0, this.#partialLength);
      base = 0;
    }

    let lineStart = this.#lineStart;
    for (;;) {
      const lf = lineEnd(buf, lineStart);
      const failAt = this.#partial === null ? chunk : null;
      if (lf === INVALID_BYTE) {
        return this.#fail(failAt, base, this.#reader.lines === 0 ? 'DP_BAD_REQUEST_LINE' : 'DP_BAD_HEADER');
      }
      if (lf === -1 ? buf.length - base >= limit : lf + 1 - base > limit) {
        return this.#fail(failAt, base, 'DP_HEAD_TOO_LARGE');
      }
      if (lf === -1) {
        const held = buf.length - base;
        if (this.#partial === null) {
          this.#flush(chunk, base);
          this.#partial = Buffer.allocUnsafe(Math.max(1024, held * 2));
          chunk.copy(this.#partial, 0, base);
          this.#partialLength = held;
          this.#lineStart = lineStart - base;
          this.#passStart = chunk.length;
        } else {
          this.#lineStart = lineStart;
        }
        return -1;
      }
      if (lf - 1 === lineStart) {
        if (this.#reader.lines === 0) {
          // An empty line before the start line of a head held over chunks.
          base = lineStart = lf + 1;
          continue;
        }
        return this.#headComplete(chunk, buf, base, lf + 1, consumedBefore);
      }
      if (this.#reader.lines > this.#limits.maxHeaderCount) return this.#fail(failAt, base, 'DP_TOO_MANY_HEADERS');
      const error = this.#reader.line(buf, base, lineStart, lf - 1);
      if (error !== undefined) return this.#fail(failAt, base, error);
      lineStart = lf + 1;
    }
  }

  #headComplete(chunk: Buffer, buf: Buffer, base: number, end: number, consumedBefore: number): number {
    const fromPartial = this.#partial !== null;
    this.#partial = null;
    this.#partialLength = 0;
    const pos = end + consumedBefore;
    const failAt = fromPartial ? null : chunk;
    const reader = this.#reader;
    let error = reader.finish(buf, base, end, this.bodyless());
    const head = reader.head;
    error ??= this.accept(head);
    if (error !== undefined) return this.#fail(failAt, fromPartial ? 0 : base, error);

    const replacement = this.#sink.onHead(head);
    if (fromPartial || replacement !== undefined) {
      if (!fromPartial) this.#flush(chunk, base);
      this.#sink.onData(replacement ?? head.bytes);
      this.#passStart = pos;
    }
    switch (head.body) {
      case BODY_NONE:
        return this.#complete(chunk, pos) ? pos : -1;
      case BODY_LENGTH:
        this.#state = S_BODY_LENGTH;
        this.#remaining = head.contentLength;
        return pos;
      case BODY_CHUNKED:
        this.#state = S_CHUNK_SIZE;
        this.#chunkDigits = 0;
        this.#remaining = 0;
        return pos;
      default:
        this.#state = S_UNTIL_CLOSE;
        return pos;
    }
  }

  /** One byte of chunked framing outside chunk data; returns the next position or -1. */
  #chunkedByte(chunk: Buffer, pos: number): number {
    const c = chunk[pos];
    switch (this.#state) {
      case S_CHUNK_SIZE: {
        const digit = HEX[c];
        if (digit >= 0) {
          if (++this.#chunkDigits > MAX_CHUNK_SIZE_DIGITS) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
          this.#remaining = this.#remaining * 16 + digit;
          return pos + 1;
        }
        if (this.#chunkDigits === 0) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        this.#lineBytes = 0;
        if (c === CR) this.#state = S_CHUNK_SIZE_LF;
        else if (c === 0x3b) this.#state = S_EXT_NAME_START;
        else return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        return pos + 1;
      }
      case S_EXT_NAME_START:
      case S_EXT_VALUE_START:
        if (++this.#lineBytes > MAX_CHUNK_EXTENSION) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        if (TOKEN[c] === 1) this.#state = this.#state === S_EXT_NAME_START ? S_EXT_NAME : S_EXT_TOKEN;
        else if (c === 0x22 && this.#state === S_EXT_VALUE_START) this.#state = S_EXT_QUOTED;
        else return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        return pos + 1;
      case S_EXT_NAME:
      case S_EXT_TOKEN:
      case S_EXT_AFTER_QUOTED:
        if (++this.#lineBytes > MAX_CHUNK_EXTENSION) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        if (TOKEN[c] === 1 && this.#state !== S_EXT_AFTER_QUOTED) return pos + 1;
        if (c === 0x3b) this.#state = S_EXT_NAME_START;
        else if (c === 0x3d && this.#state === S_EXT_NAME) this.#state = S_EXT_VALUE_START;
        else if (c === CR) this.#state = S_CHUNK_SIZE_LF;
        else return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        return pos + 1;
      case S_EXT_QUOTED:
        if (++this.#lineBytes > MAX_CHUNK_EXTENSION) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        if (c === 0x22) this.#state = S_EXT_AFTER_QUOTED;
        else if (c === 0x5c || FIELD_VALUE[c] !== 1) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        return pos + 1;
      case S_CHUNK_SIZE_LF:
        if (c !== LF) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        if (this.#remaining === 0) {
          this.#state = S_TRAILER_START;
          this.#lineBytes = 0;
          if (this.#sink.onTrailers !== undefined) {
            this.#trailerParts = [];
            this.#trailerFrom = pos + 1;
          }
        } else {
          this.#state = S_CHUNK_DATA;
        }
        return pos + 1;
      case S_CHUNK_DATA_CR:
        if (c !== CR) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        this.#state = S_CHUNK_DATA_LF;
        return pos + 1;
      case S_CHUNK_DATA_LF:
        if (c !== LF) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        this.#state = S_CHUNK_SIZE;
        this.#chunkDigits = 0;
        if (this.watchChunkEnds && this.#sink.onChunkEnd?.() === true) {
          this.#flush(chunk, pos + 1);
          this.#state = S_DEAD;
          return -1;
        }
        return pos + 1;
      case S_TRAILER_START:
        if (c === CR) {
          this.#state = S_TRAILERS_END_LF;
          return pos + 1;
        }
        if (TOKEN[c] !== 1) return this.#fail(chunk, pos, c === SP || c === HTAB ? 'DP_OBS_FOLD' : 'DP_BAD_HEADER');
        this.#state = S_TRAILER_NAME;
        this.#nameLength = 0;
        this.#framingName = 3;
        this.#trailerNameByte(c);
        return this.#trailerByte(chunk, pos);
      case S_TRAILER_NAME:
        if (TOKEN[c] === 1) {
          this.#trailerNameByte(c);
          return this.#trailerByte(chunk, pos);
        }
        if (c !== 0x3a) return this.#fail(chunk, pos, 'DP_BAD_HEADER');
        if (this.#framingName & 1 && this.#nameLength === CONTENT_LENGTH.length) {
          return this.#fail(chunk, pos, 'DP_AMBIGUOUS_LENGTH');
        }
        if (this.#framingName & 2 && this.#nameLength === TRANSFER_ENCODING.length) {
          return this.#fail(chunk, pos, 'DP_BAD_TRANSFER_ENCODING');
        }
        this.#state = S_TRAILER_VALUE;
        return this.#trailerByte(chunk, pos);
      case S_TRAILER_VALUE:
        if (c === CR) this.#state = S_TRAILER_LF;
        else if (FIELD_VALUE[c] !== 1) return this.#fail(chunk, pos, 'DP_BAD_HEADER');
        return this.#trailerByte(chunk, pos);
      case S_TRAILER_LF:
        if (c !== LF) return this.#fail(chunk, pos, 'DP_BAD_HEADER');
        this.#state = S_TRAILER_START;
        return this.#trailerByte(chunk, pos);
      case S_TRAILERS_END_LF:
        if (c !== LF) return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
        if (this.#trailerParts !== null) this.#trailersComplete(chunk, pos + 1);
        return this.#complete(chunk, pos + 1) ? pos + 1 : -1;
      default:
        return this.#fail(chunk, pos, 'DP_BAD_CHUNK');
    }
  }

  /** The trailer section ended just before `end`: its fields (if any) go to the sink. */
  #trailersComplete(chunk: Buffer, end: number): void {
    const parts = this.#trailerParts!;
    this.#trailerParts = null;
    parts.push(chunk.subarray(this.#trailerFrom, end));
    const section = parts.length === 1 ? Buffer.from(parts[0]) : Buffer.concat(parts);
    if (section.length > 2) this.#sink.onTrailers!(section.subarray(0, section.length - 2));
  }

  #trailerNameByte(c: number): void {
    const i = this.#nameLength++;
    if (CONTENT_LENGTH[i] !== (c | 0x20)) this.#framingName &= ~1;
    if (TRANSFER_ENCODING[i] !== (c | 0x20)) this.#framingName &= ~2;
  }

  #trailerByte(chunk: Buffer, pos: number): number {
    if (++this.#lineBytes > this.#limits.maxHeaderSize) return this.#fail(chunk, pos, 'DP_HEAD_TOO_LARGE');
    return pos + 1;
  }
}

function grow(buffer: Buffer, needed: number): Buffer {
  if (needed <= buffer.length) return buffer;
  const bigger = Buffer.allocUnsafe(Math.max(needed, buffer.length * 2));
  buffer.copy(bigger);
  return bigger;
}

/** Frames what a client sends: requests. */
export class RequestFramer extends MessageFramer {
  constructor(sink: FramerSink, limits: FramerLimits) {
    super(true, sink, limits);
  }

  protected bodyless(): boolean {
    return false;
  }

  protected accept(): ErrorCode | undefined {
    return undefined;
  }
}

const EXPECT_BODY = 0;
const EXPECT_BODYLESS = 1;
const EXPECT_UPGRADE = 2;

/**
 * Frames what the app sends: responses, each matched to the request it
 * answers, because a response's framing depends on it (HEAD, Upgrade).
 */
export class ResponseFramer extends MessageFramer {
  readonly #expected = new Fifo<number>();

  constructor(sink: FramerSink, limits: FramerLimits) {
    super(false, sink, limits);
  }

  /** A request went upstream; its response is framed accordingly. */
  expect(request: Pick<MessageHead, 'method' | 'upgrade'>): void {
    this.#expected.push(request.upgrade ? EXPECT_UPGRADE : request.method === 'HEAD' ? EXPECT_BODYLESS : EXPECT_BODY);
  }

  protected bodyless(): boolean {
    return this.#expected.peek() === EXPECT_BODYLESS;
  }

  protected accept(head: MessageHead): ErrorCode | undefined {
    const expected = this.#expected.peek();
    if (expected === undefined) return 'DP_UPSTREAM_BAD_RESPONSE';
    if (head.status === 101) {
      if (expected !== EXPECT_UPGRADE) return 'DP_UPSTREAM_BAD_RESPONSE';
    } else if (head.status < 200) {
      return undefined; // interim: the final response to the same request follows
    }
    this.#expected.shift();
    return undefined;
  }
}

const INVALID_BYTE = -2;

/**
 * The LF ending the line that starts at `from`, -1 when the buffer ends first,
 * or INVALID_BYTE. Finding the end and validating the bytes is one pass: no
 * byte outside field-value (HTAB, SP, VCHAR, obs-text) may stand anywhere in a
 * head line, and CR only right before LF, so the line readers check only
 * what is stricter than that (tokens, targets, digits).
 */
function lineEnd(buf: Buffer, from: number): number {
  const length = buf.length;
  let i = from;
  while (i < length && FIELD_VALUE[buf[i]] === 1) i++;
  if (i === length) return -1;
  if (buf[i] !== CR) return INVALID_BYTE;
  if (i + 1 === length) return -1;
  return buf[i + 1] === LF ? i + 1 : INVALID_BYTE;
}
