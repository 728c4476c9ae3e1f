/**
 * Server-sent event streams at drain. An event stream never ends by itself,
 * so waiting for it would only end in a cut at the deadline. At its moment in
 * the close window the proxy ends the response itself, after a complete
 * event: with the last chunk where it is chunked, by closing where it is
 * close-delimited. EventSource clients then reconnect (to another pod) with
 * Last-Event-ID.
 *
 *   WATCHING ──its moment──▶ DUE ──between events, between chunks──▶ ENDED
 *                             └──a chunk ends at an event's end──▶ AT_CHUNK_END ──▶ ENDED
 */
import type { ResponseFramer } from './framer.ts';
import { BODY_CHUNKED, type MessageHead } from './head.ts';

const LF = 10;
const CR = 13;

/**
 * Where a server-sent event stream may be ended without cutting an event: right
 * after a blank line (HTML Living Standard, "Parsing an event stream": an event
 * is dispatched at an empty line; CR LF, LF and CR each end a line, and may be
 * mixed). Event streams are small; the payload is read byte by byte and
 * nothing is kept but three flags.
 */
export class EventBoundary {
  #atBoundary = true;
  #lineEmpty = true;
  /** The last byte was a CR: a LF right after it belongs to the same line end. */
  #afterCR = false;

  readonly observe = (chunk: Buffer, start: number, end: number): void => {
    for (let i = start; i < end; i++) {
      const c = chunk[i];
      if (c === LF && this.#afterCR) {
        this.#afterCR = false;
      } else if (c === LF || c === CR) {
        this.#atBoundary = this.#lineEmpty;
        this.#lineEmpty = true;
        this.#afterCR = c === CR;
      } else {
        this.#atBoundary = false;
        this.#lineEmpty = false;
        this.#afterCR = false;
      }
    }
  };

  /** No payload yet, or the payload so far ends with a blank line. */
  get atBoundary(): boolean {
    return this.#atBoundary;
  }
}

/** Who ends the response when the stream is between events (the connection: the last chunk, the close). */
export interface EventStreamOwner {
  /** The framer has stopped right after a complete event: end the response there (`chunked`: with the last chunk). */
  endEventStream(head: MessageHead, chunked: boolean): void;
}

const WATCHING = 0;
const DUE = 1; // the moment has come: the stream ends at the next place between events
const AT_CHUNK_END = 2; // the framer stopped at a chunk end that is also an event's end
const ENDED = 3;

/** One event-stream response on its way to the client, watched for the place to end it at drain. */
export class EventStreamEnd {
  readonly #framer: ResponseFramer;
  readonly #owner: EventStreamOwner;
  readonly #boundary = new EventBoundary();
  #state = WATCHING;
  #timer: NodeJS.Timeout | undefined;

  constructor(framer: ResponseFramer, owner: EventStreamOwner) {
    this.#framer = framer;
    this.#owner = owner;
    framer.bodyObserver = this.#boundary.observe;
  }

  /** The drain has started: the stream ends `delayMs` from now (its moment in the close window). */
  scheduleEnd(delayMs: number): void {
    if (this.#timer !== undefined || this.#state !== WATCHING) return;
    this.#timer = setTimeout(EventStreamEnd.#onMoment, delayMs, this);
  }

  /** The framer's chunk-end hook: stop right here when the moment has come and an event has just ended. */
  chunkEnded(): boolean {
    if (this.#state !== DUE || !this.#boundary.atBoundary) return false;
    this.#state = AT_CHUNK_END;
    return true;
  }

  /** After the app's bytes went through: ends the stream if the moment has come and it is between events. */
  afterData(): void {
    if (this.#state === DUE || this.#state === AT_CHUNK_END) this.#endIfBetweenEvents();
  }

  /** The response ended (or the connection did): nothing more to watch. */
  stop(): void {
    this.#state = ENDED;
    clearTimeout(this.#timer);
    this.#framer.bodyObserver = null;
    this.#framer.watchChunkEnds = false;
  }

  #endIfBetweenEvents(): void {
    const framer = this.#framer;
    const chunked = framer.head.body === BODY_CHUNKED;
    if (this.#state !== AT_CHUNK_END && !(this.#boundary.atBoundary && (chunked ? framer.betweenChunks : framer.untilClose))) return;
    framer.stop();
    this.stop();
    this.#owner.endEventStream(framer.head, chunked);
  }

  static #onMoment(stream: EventStreamEnd): void {
    stream.#timer = undefined;
    if (stream.#state !== WATCHING) return;
    stream.#state = DUE;
    stream.#framer.watchChunkEnds = true;
    stream.#endIfBetweenEvents();
  }
}
