/**
 * Where a server-sent event stream may be ended without cutting an event: right
 * after a blank line (HTML Living Standard, "Parsing an event stream": an event
 * is dispatched at an empty line; CR LF, LF and CR each end a line, and may be
 * mixed). Event streams are small; the payload is read byte by byte and
 * nothing is kept but three flags.
 */
const LF = 10;
const CR = 13;

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
