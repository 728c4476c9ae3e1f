/**
 * The two rewrites the proxy ever makes to an HTTP/1.1 head: `Connection:
 * close` on a response at drain, and the forwarding fields on a request. Each
 * is one copy of the head's bytes, from the positions the framer noted
 * (`MessageHead`); nothing is parsed again.
 */
import type { Scheme } from '../listeners/peer.ts';
import type { MessageHead } from './head.ts';

const CR = 13;
const LF = 10;
const EMPTY = Buffer.alloc(0);
const CONNECTION_CLOSE = Buffer.from('Connection: close\r\n', 'latin1');
const NO_LINES: readonly number[] = [];

/**
 * A rewritten head: `src` without the [start, end) ranges in `drop` (whole
 * lines, in order), with `insert` put at offset `at` (-1: nowhere; never
 * inside a dropped line), and `lines`, then `more`, added before the final
 * CRLF. One copy of each kept byte.
 */
function rewriteHead(src: Buffer, drop: readonly number[], at: number, insert: Buffer, lines: Buffer, more: Buffer): Buffer {
  let size = src.length + insert.length + lines.length + more.length;
  for (let i = 0; i < drop.length; i += 2) size -= drop[i + 1] - drop[i];
  const out = Buffer.allocUnsafe(size);
  const last = src.length - 2;
  let from = 0;
  let to = 0;
  for (let i = 0; ; i += 2) {
    const until = i < drop.length ? drop[i] : last;
    if (at >= from && at <= until) {
      to += src.copy(out, to, from, at);
      to += insert.copy(out, to);
      from = at;
      at = -1;
    }
    to += src.copy(out, to, from, until);
    if (i >= drop.length) break;
    from = drop[i + 1];
  }
  to += lines.copy(out, to);
  to += more.copy(out, to);
  out[to++] = CR;
  out[to] = LF;
  return out;
}

/** The head with its Connection and Keep-Alive lines replaced by `Connection: close`. */
export function withConnectionClose(head: MessageHead): Buffer {
  return rewriteHead(head.bytes, head.hopLines, -1, EMPTY, CONNECTION_CLOSE, EMPTY);
}

/**
 * The request head with the client's address appended to X-Forwarded-For (a
 * new line when there was none) and X-Forwarded-Proto set: the client's own
 * lines are kept only when `trustedPeer` says its peer may state the scheme
 * (TRUSTED_PROXIES); otherwise they are replaced with the `scheme` the
 * client reached the proxy by.
 */
export function withForwarded(head: MessageHead, clientAddress: string, scheme: Scheme, trustedPeer: boolean): Buffer {
  const lines = forwardedLines(clientAddress);
  const protoLines = head.forwardedProtoLines;
  const keepProto = protoLines !== null && trustedPeer;
  const drop = protoLines === null || keepProto ? NO_LINES : protoLines;
  const proto = keepProto ? EMPTY : FORWARDED_PROTO[scheme];
  if (head.forwardedForEnd >= 0) return rewriteHead(head.bytes, drop, head.forwardedForEnd, lines.append, proto, EMPTY);
  return rewriteHead(head.bytes, drop, -1, EMPTY, lines.line, proto);
}

const FORWARDED_PROTO: Record<Scheme, Buffer> = {
  http: Buffer.from('X-Forwarded-Proto: http\r\n', 'latin1'),
  https: Buffer.from('X-Forwarded-Proto: https\r\n', 'latin1'),
};

interface ForwardedLines {
  readonly address: string;
  /** `X-Forwarded-For: <address>` CRLF */
  readonly line: Buffer;
  /** `, <address>`, appended to an existing X-Forwarded-For value */
  readonly append: Buffer;
}

/** The last client's lines: a sidecar sees the same few addresses (its load balancers) over and over. */
let lastForwarded: ForwardedLines = { address: '', line: EMPTY, append: EMPTY };

function forwardedLines(address: string): ForwardedLines {
  if (lastForwarded.address !== address) {
    lastForwarded = {
      address,
      line: Buffer.from(`X-Forwarded-For: ${address}\r\n`, 'latin1'),
      append: Buffer.from(`, ${address}`, 'latin1'),
    };
  }
  return lastForwarded;
}
