/**
 * The framer against Node's own parser (llhttp), the parser of the app most
 * likely behind the proxy. Streams of valid and hostile messages are framed by
 * both, cut at random points; for every stream:
 *
 * - every message both accept is the same bytes (so the same head, the same
 *   body once de-chunked, the same trailers);
 * - where the framer refuses, it forwarded nothing of the refused message
 *   beyond what llhttp accepted too (a head is never forwarded in part; a body
 *   refused midway was streamed only up to the offending byte);
 * - where llhttp refuses, the framer refused at or before that message, or
 *   holds an unfinished head of it and forwarded none of it;
 * - where llhttp switches protocols (Upgrade, 101) the framer pauses there and
 *   hands over exactly the bytes after it.
 *
 * Being stricter than llhttp is allowed: the framer may refuse what llhttp
 * accepts, except in streams of well-formed messages, which it must accept.
 * Hostile streams mix messages whose head, body, or both are hostile (CL.TE,
 * TE.CL, obfuscated Transfer-Encoding, bad Content-Length, bad chunk sizes,
 * extensions and trailers, bare CR/LF, obs-fold, control bytes, odd targets,
 * methods, versions and statuses, random byte mutations).
 *
 * FUZZ_RUNS scales the number of streams per property (default 500, the
 * bounded run inside `npm test`); FUZZ_SECONDS=N turns the file into a fuzzer
 * bounded by time instead (`npm run fuzz`, scripts/fuzz.ts): the N seconds are
 * shared by the four properties, FUZZ_RUNS then only caps them, FUZZ_SEED pins
 * the seed, each property's runs, seed and verdict are printed as a
 * `FUZZ_RESULT {json}` line and a counterexample is appended to the file
 * FUZZ_FAILURES names. DIFF_STATS=1 prints how often each pair of outcomes
 * occurred, with the shortest stream of each. Every stream that ever failed is
 * kept in REGRESSIONS, byte for byte.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { ErrorCode } from '../../src/errors.ts';
import { CONTINUE, type FramerSink, PAUSE, STOP, type Verdict } from '../../src/http1/framer.ts';
import { BODY_CHUNKED, type MessageHead } from '../../src/http1/head.ts';
import { framerFor, LIMITS, requestHead } from '../helpers/framing.ts';
import { type Asked, type LlhttpResult, llhttpParse, llhttpParseBytewise } from '../helpers/llhttp-oracle.ts';

const FUZZ_SECONDS = Number(process.env.FUZZ_SECONDS ?? '') || 0;
const RUNS = Number.parseInt(process.env.FUZZ_RUNS ?? '', 10) || (FUZZ_SECONDS > 0 ? 1_000_000_000 : 500);
const SEED = process.env.FUZZ_SEED === undefined || process.env.FUZZ_SEED === '' ? undefined : Number(process.env.FUZZ_SEED);
/** The properties that share FUZZ_SECONDS. */
const PROPERTY_COUNT = 4;
/** DIFF_STATS=1: count outcomes (framer vs llhttp) and print them with the shortest stream of each. */
const STATS = process.env.DIFF_STATS === '1' ? new Map<string, { count: number; sample: string }>() : null;

type Kind = 'request' | 'response';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');
const show = (b: Buffer | string): string => JSON.stringify(typeof b === 'string' ? b : b.toString('latin1'));

// ---------------------------------------------------------------------------
// Our side: the framer with a sink that behaves like the proxy's connection.

const ASKED_HEADS: Record<Asked, MessageHead> = {
  normal: requestHead('GET / HTTP/1.1\r\nHost: a\r\n\r\n'),
  head: requestHead('HEAD / HTTP/1.1\r\nHost: a\r\n\r\n'),
  upgrade: requestHead('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
};

interface OurMessage {
  head: MessageHead;
  bytes: Buffer;
}

interface OurRun {
  messages: OurMessage[];
  /** Heads accepted (one more than messages when a body was refused or cut short). */
  heads: number;
  error: ErrorCode | null;
  /** Bytes forwarded after the last complete message. */
  extra: Buffer;
  /** The sink stopped after a message that does not keep the connection alive. */
  stopped: boolean;
  /** Paused at a protocol switch; `held` is every byte after it. */
  held: Buffer | null;
  /** A head has begun but not ended. */
  pendingHead: boolean;
}

/**
 * Frames the chunks as the proxy would: STOP after a message that closes the
 * connection, PAUSE at an Upgrade request or a 101. While paused, the app's
 * answer is what llhttp says: a switch where llhttp switched protocols (take
 * the held bytes), otherwise an ordinary response (resume, or stop if the
 * connection closes).
 */
function runOurs(kind: Kind, chunks: readonly Buffer[], asked: readonly Asked[], oracle: LlhttpResult): OurRun {
  const out: Buffer[] = [];
  let forwarded = 0;
  const ends: number[] = [];
  const heads: MessageHead[] = [];
  let error: ErrorCode | null = null;
  let stopped = false;
  const sink: FramerSink = {
    onHead(head) {
      heads.push(head);
      return undefined;
    },
    onData(bytes) {
      out.push(bytes);
      forwarded += bytes.length;
    },
    onMessageComplete(head): Verdict {
      ends.push(forwarded);
      if (kind === 'request' ? head.upgrade : head.status === 101) return PAUSE;
      if (!head.keepAlive) {
        stopped = true;
        return STOP;
      }
      return CONTINUE;
    },
    onError(code) {
      error = code;
    },
  };
  const framer = framerFor(sink, LIMITS, kind === 'request' ? undefined : asked.map((a) => ASKED_HEADS[a]));
  let held: Buffer[] | null = null;
  for (const chunk of chunks) {
    if (held !== null) {
      held.push(chunk);
      continue;
    }
    framer.push(chunk);
    while (framer.paused) {
      if (oracle.upgradeAt >= 0 && ends.length === oracle.messages.length) {
        held = framer.takeHeld();
      } else if (heads[ends.length - 1].keepAlive) {
        framer.resume();
      } else {
        framer.stop();
        stopped = true;
      }
    }
    if (stopped || error !== null) break;
  }
  let pendingHead = false;
  if (held === null && !stopped && error === null) {
    pendingHead = framer.pendingHeadBytes > 0;
    framer.end();
  }
  const all = Buffer.concat(out);
  const messages: OurMessage[] = [];
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    messages.push({ head: heads[i], bytes: all.subarray(start, ends[i]) });
    start = ends[i];
  }
  return {
    messages,
    heads: heads.length,
    error,
    extra: all.subarray(start),
    stopped,
    held: held === null ? null : Buffer.concat(held),
    pendingHead,
  };
}

// ---------------------------------------------------------------------------
// Reading back what the framer forwarded: header list, target, de-chunked body.

function headerList(head: Buffer): { firstLine: string; headers: string[] } {
  const lines = head.toString('latin1').split('\r\n');
  const headers: string[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    headers.push(line.slice(0, colon), trimOws(line.slice(colon + 1)));
  }
  return { firstLine: lines[0], headers };
}

function trimOws(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** The body and trailers of a chunked body the framer accepted. */
function dechunk(bytes: Buffer): { body: Buffer; trailers: string[] } {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', pos);
    assert.ok(lineEnd >= 0, 'chunk-size line ends');
    const sizeText = /^[0-9a-fA-F]+/.exec(bytes.toString('latin1', pos, lineEnd));
    assert.ok(sizeText !== null, 'chunk size');
    const size = Number.parseInt(sizeText[0], 16);
    pos = lineEnd + 2;
    if (size === 0) break;
    parts.push(bytes.subarray(pos, pos + size));
    pos += size + 2;
  }
  const trailers: string[] = [];
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', pos);
    assert.ok(lineEnd >= 0, 'trailer line ends');
    if (lineEnd === pos) break;
    const line = bytes.toString('latin1', pos, lineEnd);
    const colon = line.indexOf(':');
    trailers.push(line.slice(0, colon), trimOws(line.slice(colon + 1)));
    pos = lineEnd + 2;
  }
  assert.equal(pos + 2, bytes.length, 'the message ends with its trailer section');
  return { body: Buffer.concat(parts), trailers };
}

// ---------------------------------------------------------------------------
// The property.

interface Case {
  kind: Kind;
  /** The stream, one char per byte (latin1), so counterexamples print readably. */
  text: string;
  asked: readonly Asked[];
}

function cutAt(input: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) chunks.push(Buffer.from(input.subarray(from, p)));
    from = Math.max(from, p);
  }
  if (from < input.length) chunks.push(Buffer.from(input.subarray(from)));
  return chunks;
}

/** Frames `c` cut into `chunks` by both parsers and checks every claim in the header comment. */
function check(c: Case, chunks: readonly Buffer[], options: { mustAccept?: boolean } = {}): void {
  const { kind, asked } = c;
  const input = latin1(c.text);
  const exact = llhttpParseBytewise(kind, input, { asked });
  const cutLl = llhttpParse(kind, chunks, { asked });
  const context = `${kind} ${show(input)} cut ${JSON.stringify(chunks.map((ch) => ch.length))}`;

  // llhttp itself does not care how the stream is cut.
  assert.deepEqual(
    {
      messages: cutLl.messages.map(({ start: _s, end: _e, ...rest }) => rest),
      error: cutLl.error?.code,
      eofError: cutLl.eofError?.code,
      upgradeAt: cutLl.upgradeAt,
    },
    {
      messages: exact.messages.map(({ start: _s, end: _e, ...rest }) => rest),
      error: exact.error?.code,
      eofError: exact.eofError?.code,
      upgradeAt: exact.upgradeAt,
    },
    `llhttp is cut-dependent: ${context}`,
  );

  const ours = runOurs(kind, chunks, asked, exact);
  if (STATS !== null) {
    const key = `ours ${ours.error ?? (ours.stopped ? 'stopped' : ours.held ? 'upgraded' : 'ok')} / llhttp ${exact.error?.code ?? (exact.upgradeAt >= 0 ? 'upgraded' : 'ok')}`;
    const seen = STATS.get(key);
    if (seen === undefined) STATS.set(key, { count: 1, sample: c.text });
    else {
      seen.count++;
      if (c.text.length < seen.sample.length) seen.sample = c.text;
    }
  }
  const k = exact.messages.length;
  const j = ours.messages.length;
  if (options.mustAccept) assert.equal(ours.error, null, `a well-formed stream refused: ${kind} ${show(input)}`);
  const where = `${context}\n  ours: ${j} messages, error ${ours.error}, stopped ${ours.stopped}, extra ${show(ours.extra)}\n  llhttp: ${k} messages, error ${JSON.stringify(exact.error)}, upgradeAt ${exact.upgradeAt}, eofError ${exact.eofError?.code}`;

  // Messages both framed are the same bytes, and read the same.
  for (let i = 0; i < Math.min(j, k); i++) {
    const theirs = exact.messages[i];
    const mine = ours.messages[i];
    assert.equal(show(mine.bytes), show(input.subarray(theirs.start, theirs.end)), `message ${i} bytes differ: ${where}`);
    const headBytes = mine.head.bytes;
    const { firstLine, headers } = headerList(headBytes);
    assert.deepEqual(headers, theirs.headers, `message ${i} headers differ: ${where}`);
    if (kind === 'request') {
      assert.equal(mine.head.method, theirs.method, `message ${i} method: ${where}`);
      assert.equal(firstLine.slice(firstLine.indexOf(' ') + 1, firstLine.lastIndexOf(' ')), theirs.url, `message ${i} target: ${where}`);
      if (theirs.upgrade) assert.ok(mine.head.upgrade, `message ${i}: llhttp upgrades, the framer does not: ${where}`);
    } else {
      assert.equal(mine.head.status, theirs.status, `message ${i} status: ${where}`);
    }
    assert.equal(mine.head.versionMinor, theirs.versionMinor, `message ${i} version: ${where}`);
    const rest = mine.bytes.subarray(headBytes.length);
    const { body, trailers } = mine.head.body === BODY_CHUNKED ? dechunk(rest) : { body: rest, trailers: [] };
    assert.equal(show(body), show(theirs.body), `message ${i} body differs: ${where}`);
    assert.deepEqual(trailers, theirs.trailers, `message ${i} trailers differ: ${where}`);
  }

  assert.ok(j <= k, `the framer completed a message llhttp did not: ${where}`);

  if (ours.held !== null) {
    assert.equal(j, k, `switched protocols at another message: ${where}`);
    assert.ok(exact.upgradeAt >= 0, where);
    assert.equal(show(ours.held), show(input.subarray(exact.upgradeAt)), `held bytes after the switch: ${where}`);
    return;
  }

  if (ours.extra.length > 0) {
    // Part of a message whose head was accepted: a body streamed, then refused or cut short by EOF.
    assert.equal(ours.heads, j + 1, `bytes forwarded of a message whose head was not accepted: ${where}`);
    const start = exact.begins[j];
    assert.ok(start !== undefined && start >= 0, `llhttp saw no message where the framer forwarded one: ${where}`);
    assert.equal(show(ours.extra), show(input.subarray(start, start + ours.extra.length)), `partial message bytes: ${where}`);
    if (k > j) {
      assert.ok(start + ours.extra.length < exact.messages[j].end, where);
    } else if (exact.error !== null) {
      assert.ok(start + ours.extra.length <= exact.error.at, `forwarded bytes llhttp refuses: ${where}`);
    }
  }

  if (ours.error !== null || ours.stopped) return;

  // The framer ran to the end of the stream without refusing it: llhttp must not have refused or framed more.
  assert.equal(j, k, `llhttp framed more messages: ${where}`);
  assert.equal(exact.upgradeAt, -1, `llhttp switched protocols, the framer framed on: ${where}`);
  if (exact.error !== null) {
    assert.equal(ours.extra.length, 0, `llhttp refuses a message the framer forwarded part of: ${where}`);
    assert.ok(ours.pendingHead, `llhttp refuses a message the framer neither refused nor holds: ${where}`);
  } else if (exact.begins.length === k) {
    // llhttp began no further message (its EOF verdict on one cut short is not always an error).
    assert.equal(ours.extra.length, 0, where);
  }
}

// ---------------------------------------------------------------------------
// Generators.

const weighted = <T>(...entries: Array<[number, fc.Arbitrary<T>]>): fc.Arbitrary<T> =>
  fc.oneof(...entries.map(([weight, arbitrary]) => ({ weight, arbitrary })));
/** `arbitrary` one time in `every`, null otherwise. */
const sometimes = <T>(every: number, arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> =>
  weighted<T | null>([every - 1, fc.constant(null)], [1, arbitrary]);
const chars = (pool: string, maxLength: number, minLength = 0): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...pool), minLength, maxLength });

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ODD = '\x00\x01\x09\x0b\x0d\x0a\x20\x22\x7f\x80\xff:;,=';

/** Picks from `valid` only, or from both with `hostile` weighted in. */
const pick = <T>(hostile: boolean, valid: fc.Arbitrary<T>, bad: fc.Arbitrary<T>, odds: [number, number]): fc.Arbitrary<T> =>
  hostile ? weighted<T>([odds[0], valid], [odds[1], bad]) : valid;

const TE_VALUES = [
  'chunked',
  'Chunked',
  'CHUNKED',
  'chunked ',
  ' chunked',
  'chunked\t',
  'chunked, identity',
  'identity, chunked',
  'gzip, chunked',
  'xchunked',
  'chunk',
  '"chunked"',
  'chunked;q=1',
  'chunked\x0b',
  'chunked,',
];

const HOSTILE_FRAMINGS = [
  'cl-te',
  'te-cl',
  'te-only',
  'te-twice',
  'te-and-identity',
  'cl-dup-same',
  'cl-dup-diff',
  'cl-comma',
  'cl-plus',
  'cl-neg',
  'cl-hex',
  'cl-huge',
  'cl-max',
  'cl-u64',
  'cl-zeros',
  'cl-ows',
  'cl-short',
  'cl-long',
  'cl-empty',
  'te-space-colon',
  'cl-space-colon',
  'te-fold',
  'cl-fold',
  'te-underscore',
  'te-tab-colon',
  'te-name-vt',
  'te-x-prefixed',
  'cl-name-nul',
];

/** Which parts of a message may be hostile: its head, its body (chunked framing, trailers), or both. */
interface Hostility {
  head: boolean;
  body: boolean;
}

function partsArb(h: Hostility) {
  const hostile = h.head;
  const valueIn = (hostileHere: boolean) => pick(
    hostileHere,
    weighted<string>(
      [6, fc.constantFrom('*/*', 'text/html; q=0.9', '100-continue', '', 'a, b', '  spaced  ')],
      [3, chars('abcXYZ019 \t,;="\x80\xe9\xff', 12)],
    ),
    chars('ab \t\x00\x01\x7f\x0b\x0c\r\n\x80', 6),
    [9, 1],
  );
  const headerValue = valueIn(h.head);
  const chunkExt = pick(
    h.body,
    weighted<string>([12, fc.constant('')], [4, fc.constantFrom(';a', ';a=b', ';a="q"', ';a="x;y=z"', ';a=b;c', ';a="\tq\x80"', ';n-1=v.2')]),
    fc.constantFrom('; a=b', ';', ';a=', ';="b"', ' ;a', ';a="\\"q"', ';a=\x80', ' ', '\t', ';a="b"c', ';a=b=c', ';a="\x7f"', ';a b'),
    [8, 1],
  );
  return fc.record({
    hostile: fc.constant(h.head || h.body),
    leading: pick(hostile, weighted<string>([20, fc.constant('')], [3, fc.constantFrom('\r\n', '\r\n\r\n')]), fc.constantFrom('\n', '\r', ' '), [20, 1]),
    eol: pick(hostile, fc.constant('\r\n'), fc.constantFrom('\n', '\r', '\r\r\n', '\n\r'), [20, 1]),
    headers: fc.array(
      fc.tuple(
        pick(
          hostile,
          fc.constantFrom('Accept', 'X-Test', 'User-Agent', 'Expect', 'Keep-Alive', 'Trailer', 'X-Forwarded-For', 'Cookie', "x!#$%&'*+-.^_`|~9"),
          chars(TCHARS + ODD, 8, 1),
          [8, 1],
        ),
        headerValue,
      ),
      { maxLength: 3 },
    ),
    connection: sometimes(
      2,
      fc
        .tuple(
          fc.array(fc.constantFrom('close', 'keep-alive', 'Keep-Alive', 'upgrade', 'Upgrade', 'foo', 'closed', 'CLOSE'), { minLength: 1, maxLength: 3 }),
          fc.constantFrom(', ', ',', ' , ', ' ', ',,'),
        )
        .map(([tokens, sep]) => tokens.join(sep)),
    ),
    upgrade: sometimes(4, fc.constantFrom('websocket', 'h2c', '')),
    // Now and then more header lines than llhttp passes in one batch (32), or than the framer allows (100).
    manyHeaders: sometimes(12, fc.integer({ min: 20, max: hostile ? 110 : 90 })),
    // Hostile: a body even where none belongs (interim, 204, 304, HEAD): it must be read as the next message.
    forceBody: hostile ? fc.boolean() : fc.constant(false),
    framing: pick(
      hostile,
      // A hostile body is a chunked one, mostly.
      fc.record({ type: h.body ? fc.constantFrom('chunked', 'chunked', 'chunked', 'cl', 'none') : fc.constantFrom('none', 'cl', 'chunked'), te: fc.constant('chunked') }),
      fc.record({ type: fc.constantFrom(...HOSTILE_FRAMINGS), te: fc.constantFrom(...TE_VALUES) }),
      [1, 1],
    ),
    body: weighted<string>(
      [6, chars('abcdefghij0123456789 \r\n', 24)],
      [2, fc.constantFrom('GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n', '0\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', '\r\n\r\n')],
      [1, fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a).toString('latin1'))],
    ),
    chunks: fc.array(
      fc.record({
        size: fc.nat({ max: 12 }),
        ext: chunkExt,
        style: pick(h.body, fc.constantFrom('lower', 'lower', 'upper', 'zeros'), fc.constant('overflow'), [12, 1]),
        end: pick(h.body, fc.constant('\r\n'), fc.constantFrom('\n', '\r', '', 'xx', '\r\r\n'), [12, 1]),
      }),
      { maxLength: 4 },
    ),
    lastExt: chunkExt,
    trailers: fc.array(
      fc.tuple(
        pick(
          h.body,
          fc.constantFrom('X-T', 'Expires', 'Server-Timing', 'Host'),
          fc.constantFrom('Content-Length', 'Transfer-Encoding', 'X y', '', 'X\x00'),
          [6, 1],
        ),
        valueIn(h.body),
      ),
      { maxLength: 2 },
    ),
    finalEnd: pick(h.body, fc.constant('\r\n'), fc.constantFrom('\n', '', '\r'), [12, 1]),
    mutation: hostile
      ? sometimes(
          h.body ? 3 : 6,
          fc.record({
            at: fc.nat(),
            op: fc.constantFrom('insert', 'replace', 'delete'),
            byte: fc.constantFrom('\x00', '\n', '\r', ' ', '\t', '\x7f', '\x80', '\xff', ':', ';', '"', ',', '0', 'a', '\x0b'),
          }),
        )
      : fc.constant(null),
  });
}
type Parts = ReturnType<typeof partsArb> extends fc.Arbitrary<infer T> ? T : never;

function hex(size: number, style: string): string {
  if (style === 'upper') return size.toString(16).toUpperCase();
  if (style === 'zeros') return `000${size.toString(16)}`;
  if (style === 'overflow') return `fffffffffffffffff${size.toString(16)}`;
  return size.toString(16);
}

/** The body of a message as chunked framing, from the generated chunk specs. */
function chunked(p: Parts): string {
  let out = '';
  let from = 0;
  const body = p.body;
  for (const spec of p.chunks) {
    const size = Math.min(spec.size, body.length - from);
    if (size <= 0) break;
    out += `${hex(size, spec.style)}${spec.ext}\r\n${body.slice(from, from + size)}${spec.end}`;
    from += size;
  }
  if (from < body.length) out += `${(body.length - from).toString(16)}\r\n${body.slice(from)}\r\n`;
  out += `0${p.lastExt}\r\n`;
  for (const [name, value] of p.trailers) out += `${name}: ${value}\r\n`;
  return out + p.finalEnd;
}

/** Head lines and body for the framing: [header lines, body]. */
function framed(p: Parts, bodyAllowed: boolean, closeDelimited: boolean): [string[], string] {
  const raw = bodyAllowed ? p.body : '';
  const te = p.framing.te;
  const enc = bodyAllowed ? chunked(p) : '';
  const n = raw.length;
  switch (p.framing.type) {
    case 'none':
      // A request without framing headers has no body: bytes after it are the next request (garbage, when hostile).
      return [[], closeDelimited || p.hostile ? raw : ''];
    case 'cl':
      return [[`Content-Length: ${n}`], raw];
    case 'chunked':
      return [['Transfer-Encoding: chunked'], enc];
    case 'cl-te':
      return [[`Content-Length: ${n}`, `Transfer-Encoding: ${te}`], enc];
    case 'te-cl':
      return [[`Transfer-Encoding: ${te}`, `Content-Length: ${enc.length}`], enc];
    case 'te-only':
      return [[`Transfer-Encoding: ${te}`], enc];
    case 'te-twice':
      return [['Transfer-Encoding: chunked', `Transfer-Encoding: ${te}`], enc];
    case 'te-and-identity':
      return [[`Transfer-Encoding: ${te}`, 'Transfer-Encoding: identity'], enc];
    case 'cl-dup-same':
      return [[`Content-Length: ${n}`, `Content-Length: ${n}`], raw];
    case 'cl-dup-diff':
      return [[`Content-Length: ${n}`, `content-length: ${n + 1}`], raw];
    case 'cl-comma':
      return [[`Content-Length: ${n}, ${n}`], raw];
    case 'cl-plus':
      return [[`Content-Length: +${n}`], raw];
    case 'cl-neg':
      return [[`Content-Length: -${n}`], raw];
    case 'cl-hex':
      return [[`Content-Length: 0x${n.toString(16)}`], raw];
    case 'cl-huge':
      return [['Content-Length: 18446744073709551617'], raw];
    case 'cl-max':
      // Just past 2^53 (not exactly representable as a double) and just past 2^64.
      return [['Content-Length: 9007199254740993'], raw];
    case 'cl-u64':
      return [['Content-Length: 18446744073709551616'], raw];
    case 'cl-zeros':
      return [[`Content-Length: 0000000000000000${n}`], raw];
    case 'cl-ows':
      return [[`Content-Length:\t ${n} \t`], raw];
    case 'cl-short':
      return [[`Content-Length: ${Math.max(0, n - 3)}`], raw];
    case 'cl-long':
      return [[`Content-Length: ${n + 3}`], raw];
    case 'cl-empty':
      return [['Content-Length:'], raw];
    case 'te-space-colon':
      return [[`Transfer-Encoding : ${te}`], enc];
    case 'cl-space-colon':
      return [[`Content-Length : ${n}`], raw];
    case 'te-fold':
      return [['Transfer-Encoding:', ` ${te}`], enc];
    case 'cl-fold':
      return [['Content-Length:', ` ${n}`], raw];
    case 'te-underscore':
      return [[`Transfer_Encoding: ${te}`, `Content-Length: ${n}`], raw];
    case 'te-tab-colon':
      return [[`Transfer-Encoding\t: ${te}`], enc];
    case 'te-name-vt':
      return [[`Transfer-Encoding\x0b: ${te}`, `Content-Length: ${n}`], raw];
    case 'te-x-prefixed':
      return [[`X-Transfer-Encoding: ${te}`, `Content-Length: ${n}`], raw];
    case 'cl-name-nul':
      return [[`Content-Length\x00: ${n}`], raw];
    default:
      throw new Error(`framing ${p.framing.type}`);
  }
}

function mutate(text: string, m: Parts['mutation']): string {
  if (m === null || text.length === 0) return text;
  const at = m.at % text.length;
  if (m.op === 'insert') return text.slice(0, at) + m.byte + text.slice(at);
  if (m.op === 'replace') return text.slice(0, at) + m.byte + text.slice(at + 1);
  return text.slice(0, at) + text.slice(at + 1);
}

function render(startLine: string, lines: string[], p: Parts, body: string): string {
  const e = p.eol;
  const head = `${startLine}${e}${lines.map((l) => `${l}${e}`).join('')}${e}`;
  return p.leading + mutate(head + body, p.mutation);
}

function commonLines(p: Parts): string[] {
  const lines: string[] = [];
  for (const [name, value] of p.headers) lines.push(`${name}: ${value}`);
  if (p.connection !== null) lines.push(`Connection: ${p.connection}`);
  if (p.upgrade !== null) lines.push(`Upgrade: ${p.upgrade}`);
  for (let i = 0; i < (p.manyHeaders ?? 0); i++) lines.push(`X-Many-${i}: ${i}`);
  return lines;
}

const TARGET_POOL = 'abcXYZ019/:@?#%"<>{}|\\^`*.-+_~!$&\'()=,;[]\t\x7f\x80 ';
const VALID_TARGETS = ['/', '/index.html', '/a/b?c=d&e=f', '/x#frag', '*', 'http://example.com/p?q', 'http://[::1]:8080/', 'http://u@h/x', '//x', '/%zz', '/a"<>{}|\\^`'];

const HOSTILE: readonly Hostility[] = [
  { head: true, body: false },
  { head: false, body: true },
  { head: true, body: true },
];
const VALID: Hostility = { head: false, body: false };

/** One message: valid, or with its head, body or both hostile. */
const messages = <T>(hostile: boolean, one: (h: Hostility) => fc.Arbitrary<T>): fc.Arbitrary<T[]> =>
  fc.array(hostile ? fc.oneof(...HOSTILE.map(one)) : one(VALID), { minLength: 1, maxLength: 4 });

function requestStream(hostile: boolean): fc.Arbitrary<Case> {
  return messages(hostile, request).map((texts): Case => ({ kind: 'request', text: texts.join(''), asked: [] }));
}

function request(h: Hostility): fc.Arbitrary<string> {
  const hostile = h.head;
  const target = pick(
    hostile,
    fc.constantFrom(...VALID_TARGETS),
    weighted<string>(
      [3, chars(TARGET_POOL, 10, 1).map((t) => `/${t}`)],
      [2, chars(TARGET_POOL, 10, 1)],
      [
        2,
        fc
          .tuple(fc.constantFrom('http://', 'https://', 'HTTP://', 'ws://', 'h2://', 'a+b://', 'http:/', 'http:'), chars(TARGET_POOL, 10))
          .map(([scheme, rest]) => scheme + rest),
      ],
      // Authority-form (CONNECT's) and absolute-form pointing elsewhere: the proxy must never act on them.
      [2, fc.constantFrom('example.com:443', 'h0.example:80', '127.0.0.1:22', '[::1]:443', 'other-host:1234', 'http://other-host:1234/', 'http://127.0.0.1:1/x')],
    ),
    [10, 7],
  );
  const version = pick(
    hostile,
    weighted<string>([4, fc.constant('HTTP/1.1')], [1, fc.constant('HTTP/1.0')]),
    fc.constantFrom('HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1', '', 'HTTP/1.10', HTTP09),
    [15, 1],
  );
  return fc
    .record({
      method: pick(
        hostile,
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'M-SEARCH', 'QUERY'),
        fc.constantFrom('CONNECT', 'BREW', 'get', 'PRI', 'G\x00T', 'GET\t'),
        [12, 1],
      ),
      target,
      version,
      hosts: pick(hostile, fc.constant(1), fc.constantFrom(0, 2), [12, 1]),
      parts: partsArb(h),
    })
    .map((r) => {
      // The framer refuses chunked HTTP/1.0 requests (llhttp takes them): a well-formed one says Content-Length.
      if (!hostile && r.version === 'HTTP/1.0' && r.parts.framing.type === 'chunked') r.parts.framing.type = 'cl';
      const [framingLines, body] = framed(r.parts, true, false);
      const lines: string[] = [];
      for (let i = 0; i < r.hosts; i++) lines.push(`Host: h${i}.example`);
      lines.push(...commonLines(r.parts), ...framingLines);
      // HTTP/0.9: a request line with no version at all (`GET /`), and no headers.
      if (r.version === HTTP09) return render(`${r.method} ${r.target}`, [], r.parts, body);
      return render(`${r.method} ${r.target} ${r.version}`, lines, r.parts, body);
    });
}

/** Marks an HTTP/0.9 request line (no version) among the generated versions. */
const HTTP09 = '<0.9>';

function responseStream(hostile: boolean): fc.Arbitrary<Case> {
  return messages(hostile, response).map((all): Case => {
    const asked = all.flatMap((m) => (m.asked === null ? [] : [m.asked]));
    // Interim responses at the end still answer a request, one not finally answered yet.
    if (all.at(-1)?.asked === null) asked.push('normal');
    return { kind: 'response', text: all.map((m) => m.text).join(''), asked };
  });
}

function response(h: Hostility): fc.Arbitrary<{ text: string; asked: Asked | null }> {
  const hostile = h.head;
  return fc
    .record({
      status: pick(
        hostile,
        weighted<number>([10, fc.constantFrom(200, 201, 206, 301, 400, 404, 500)], [3, fc.constantFrom(100, 101, 102, 103, 204, 304)]),
        fc.constantFrom(99, 199, 600, 999, 0),
        [13, 1],
      ),
      reason: pick(hostile, fc.constantFrom(' OK', ' Not Found', '', ' ', ' a\tb', ' \x80\xff'), fc.constantFrom(' x\x01', ' \x7f', '\x00'), [8, 1]),
      version: pick(
        hostile,
        weighted<string>([4, fc.constant('HTTP/1.1')], [1, fc.constant('HTTP/1.0')]),
        fc.constantFrom('HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 '),
        [15, 1],
      ),
      asked: weighted<Asked>([6, fc.constant('normal')], [2, fc.constant('head')], [1, fc.constant('upgrade')]),
      parts: partsArb(h),
    })
    .map((r) => {
      const interim = r.status >= 100 && r.status < 200;
      // A 101 answers an Upgrade request; when hostile, now and then a HEAD request (the framer refuses that).
      const asked: Asked = r.status === 101 && (!hostile || r.asked !== 'head') ? 'upgrade' : r.asked;
      // Interim, 204, 304 and HEAD responses carry no body: a generated one would only be the next response's start.
      const bodyAllowed = r.parts.forceBody || (!interim && asked !== 'head' && r.status !== 204 && r.status !== 304);
      const [framingLines, body] = framed(r.parts, bodyAllowed, true);
      const status = r.status.toString().padStart(3, '0');
      const text = render(`${r.version} ${status}${r.reason}`, [...commonLines(r.parts), ...framingLines], r.parts, body);
      return { text, asked: interim && r.status !== 101 ? null : asked };
    });
}

const cuts = fc.array(fc.nat(), { maxLength: 6 });

// ---------------------------------------------------------------------------
// Regressions: streams that once failed, kept byte for byte.

interface Regression extends Case {
  why: string;
}

const r = (kind: Kind, text: string, why: string, asked: readonly Asked[] = []): Regression => ({ kind, text, asked, why });

const REGRESSIONS: Regression[] = [
  // Framer bugs, fixed in src/http1.
  r(
    'request',
    'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    'a message not at the start of its chunk had its body start misplaced (a later request went unframed)',
  ),
  r('request', 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n', 'three pipelined requests in one chunk: the third went unframed'),
  r('request', `\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n`, 'an empty line split between CR and LF was forwarded as part of the next head'),
  r('request', 'GET h2:// HTTP/1.1\r\nHost: h0.example\r\n\r\nGET / HTTP/1.1\r\nHost: h0.example\r\n\r\n', 'target llhttp refuses (scheme with a digit) was accepted'),
  r('request', 'GET http:/ HTTP/1.1\r\nHost: h0.example\r\n\r\n', 'target llhttp refuses (scheme without //) was accepted'),
  r(
    'response',
    'HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: */*\r\n\r\n',
    'a Content-Length trailer, which llhttp refuses, was accepted',
    ['normal'],
  ),
  r(
    'response',
    'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n0;a\r\n\r\nHTTP/1.1 200 OK\r\n\r\n',
    '`chunked` + tab: llhttp reads the response to EOF, the framer framed it chunked (desync)',
    ['normal', 'normal'],
  ),
  r('request', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n', '`chunked` + tab: llhttp refuses the request, the framer accepted it'),
  // Harness and oracle mistakes, kept so they stay fixed.
  r('request', 'QUERY / HTTP/1.0\r\nHost: h0.example\r\n\r\n', 'oracle: llhttp method numbers are not indexes into `methods` (QUERY is 46)'),
  r('response', '\r\nHTTP/1.1 100 OK\r\n\r\n', 'oracle: an interim response with no request outstanding is refused, as Node\'s client would', []),
  r(
    'request',
    'GET / HTTP/1.0\r\nHost: h0.example\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\n',
    'oracle: llhttp reports no EOF error for an Upgrade request cut short in its body',
  ),
  r(
    'response',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 100 OK\r\n\r\n',
    'generator: an interim response after the last final one answers a request not yet answered',
    ['normal', 'normal'],
  ),
];

/** A case cut every way the unit tests cut theirs: whole, in two at each offset, byte by byte. */
function checkEveryCut(c: Case): void {
  const input = latin1(c.text);
  check(c, [input]);
  for (let i = 1; i < input.length; i++) check(c, [input.subarray(0, i), input.subarray(i)]);
  const bytewise: Buffer[] = [];
  for (let i = 0; i < input.length; i++) bytewise.push(input.subarray(i, i + 1));
  check(c, bytewise);
}

describe('framer vs llhttp', () => {
  test('the oracle frames like Node', () => {
    // The oracle is only as good as its wiring to llhttp: spot-check it.
    const input = latin1('GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n');
    const result = llhttpParseBytewise('request', input);
    assert.equal(result.messages.length, 2);
    assert.deepEqual(
      result.messages.map((m) => [m.method, m.url, m.start, m.end, m.body.toString(), m.trailers]),
      [
        ['GET', '/a', 0, 28, '', []],
        ['POST', '/b', 28, input.length, 'abc', ['T', '1']],
      ],
    );
    const bad = llhttpParseBytewise('request', latin1('GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n'));
    assert.equal(bad.error?.code, 'HPE_INVALID_HEADER_TOKEN');
    assert.equal(bad.error?.at, 29);
    const head = llhttpParseBytewise('response', latin1('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n\r\nrest'), {
      asked: ['head', 'normal'],
    });
    assert.deepEqual(
      head.messages.map((m) => [m.status, m.body.toString(), m.end]),
      [
        [200, '', 38],
        [200, 'rest', 61],
      ],
    );
  });

  for (const regression of REGRESSIONS) {
    test(`regression: ${regression.why}`, () => checkEveryCut(regression));
  }

  test('requests: hostile streams, cut anywhere', () => {
    runProperty('requests/hostile', fc.property(requestStream(true), cuts, (c, at) => check(c, cutAt(latin1(c.text), at))));
  });

  test('responses: hostile streams, cut anywhere', () => {
    runProperty('responses/hostile', fc.property(responseStream(true), cuts, (c, at) => check(c, cutAt(latin1(c.text), at))));
  });

  // Well-formed streams: besides agreeing with llhttp, the framer must not refuse them (it is not stricter on valid traffic).
  test('requests: well-formed streams are framed exactly like llhttp, none refused', () => {
    runProperty(
      'requests/well-formed',
      fc.property(requestStream(false), cuts, (c, at) => check(c, cutAt(latin1(c.text), at), { mustAccept: true })),
    );
  });

  test('responses: well-formed streams are framed exactly like llhttp, none refused', () => {
    runProperty(
      'responses/well-formed',
      fc.property(responseStream(false), cuts, (c, at) => check(c, cutAt(latin1(c.text), at), { mustAccept: true })),
    );
  });
});

// `npm run fuzz` is this file (and the PROXY parser's) bounded by time: keep the script working (not when this file is the fuzzer's worker).
test('npm run fuzz: a short run prints its runs and totals, exit 0', { skip: FUZZ_SECONDS > 0 }, () => {
  const script = fileURLToPath(new URL('../../scripts/fuzz.ts', import.meta.url));
  const run = spawnSync(process.execPath, [script, '--seconds', '2', '--workers', '1'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /\[worker 1\] requests\/hostile +\d+ runs in [\d.]+ s, seed -?\d+: ok/);
  assert.match(run.stdout, /\[worker 1\] proxy-protocol\/\S+ +\d+ runs in [\d.]+ s, seed -?\d+: ok/, 'the PROXY header parser is fuzzed too');
  const total = /\n(\d+) inputs in [\d.]+ s \(\d+\/s\), 0 failure\(s\)\n/.exec(run.stdout);
  assert.ok(total !== null && Number(total[1]) > 100, run.stdout);
});

/**
 * Runs a property FUZZ_RUNS times, or for its share of FUZZ_SECONDS. A failure
 * throws fast-check's report (seed, path, shrunk counterexample); when fuzzing,
 * the counterexample also goes to FUZZ_FAILURES, ready to become a REGRESSIONS
 * entry.
 */
function runProperty(name: string, property: fc.IProperty<[Case, number[]]>): void {
  const plugins = FUZZ_SECONDS > 0 ? [fc.interruptAfterTimeLimit((FUZZ_SECONDS * 1000) / PROPERTY_COUNT)] : [];
  const startedAt = performance.now();
  const details = fc.check(property, { numRuns: RUNS, seed: SEED, plugins });
  const failure = details.failed ? (fc.defaultReportMessage(details) ?? 'property failed') : null;
  if (FUZZ_SECONDS > 0) {
    const [c, at] = (details.counterexample as [Case, number[]] | null) ?? [undefined, undefined];
    const result = {
      name,
      runs: details.numRuns,
      seconds: Math.round(performance.now() - startedAt) / 1000,
      seed: details.seed,
      failed: details.failed,
      counterexample: c === undefined ? null : { kind: c.kind, text: c.text, asked: c.asked, chunks: cutAt(latin1(c.text), at ?? []).map((b) => b.length) },
    };
    console.log(`FUZZ_RESULT ${JSON.stringify(result)}`);
    if (details.failed && process.env.FUZZ_FAILURES) {
      mkdirSync(dirname(process.env.FUZZ_FAILURES), { recursive: true });
      appendFileSync(process.env.FUZZ_FAILURES, `${JSON.stringify({ ...result, report: failure })}\n`);
    }
  }
  if (failure !== null) assert.fail(failure);
}

if (STATS !== null) {
  process.on('exit', () => {
    for (const [key, { count, sample }] of [...STATS].sort((a, b) => b[1].count - a[1].count)) {
      console.log(`${count}\t${key}\t${JSON.stringify(sample)}`);
    }
  });
}
