/**
 * The PROXY protocol (HAProxy's doc/proxy-protocol.txt), versions 1 and 2: a
 * load balancer in front tells the receiver, in a header at the very start of
 * the connection, which client it relays.
 *
 * `ProxyHeaderParser` is fed the connection's first chunks and answers, per
 * chunk: need more bytes, the parsed header (with the offset in that chunk
 * where the payload begins: the payload is never copied), or a refusal with a
 * reason from `PROXY_REFUSALS` (a bounded set, fit for a metric label). It is
 * a loop over explicit states, byte by byte for the short fixed parts, TLVs
 * skipped by length; header bytes are read from the chunks by index only, and
 * the only ones copied (into a small scratch buffer) are a version 1 line
 * (at most 99 bytes) or version 2 addresses (12 or 36). A malformed header is
 * refused at its first wrong byte, as the specification recommends.
 *
 *   first byte 'P' → V1_SIGNATURE ("PROXY ") → V1_LINE … CR → V1_LF → header
 *   first byte CR  → V2_SIGNATURE (12 bytes) → V2_VERSION_COMMAND → V2_FAMILY
 *                  → V2_LENGTH_HI → V2_LENGTH_LO → V2_ADDRESS (12 or 36 bytes)
 *                  → (V2_TLV_TYPE → V2_TLV_LENGTH_HI → V2_TLV_LENGTH_LO → V2_TLV_VALUE)* → header
 *                  or, when the address block is not used: V2_SKIP → header
 *   anything else  → refused
 *
 * Deliberate choices where the specification leaves room:
 * - Version 2 addresses are used only for STREAM over AF_INET/AF_INET6 with
 *   the PROXY command. LOCAL (health checks), AF_UNSPEC, AF_UNIX and DGRAM
 *   headers are accepted with `source`/`destination` null: the receiver uses
 *   the socket's own addresses, as for version 1 `UNKNOWN`.
 * - TLVs after the addresses are walked and skipped; one that runs past the
 *   header's length is refused. A CRC32C TLV is not verified (optional for
 *   receivers). The whole version 2 header is bounded by MAX_V2_HEADER.
 * - Version 1 addresses are strict: IPv4 as four decimal numbers without
 *   leading zeros, IPv6 as `inet_pton` reads it without a zone (`%eth0`),
 *   ports without leading zeros. IPv6 addresses come out as inet_ntop
 *   writes them, as Node's `remoteAddress` does (`::ffff:10.0.0.7` for an
 *   IPv4-mapped one: `peerAddress()` unwraps it like a socket's).
 */
import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import { peerAddress } from './address.ts';

/** Why a header was refused: the parser's reasons, then the front door's own (the connection ended or timed out mid-header). */
export const PROXY_REFUSALS = [
  'signature',
  'v1-syntax',
  'v1-too-long',
  'v2-version',
  'v2-command',
  'v2-family',
  'v2-length',
  'v2-tlv',
  'truncated',
  'timeout',
] as const;
export type ProxyRefusal = (typeof PROXY_REFUSALS)[number];

export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** `local`: a connection of the sender's own (a health check); its addresses are the socket's. */
  readonly command: 'proxy' | 'local';
  readonly family: 'inet' | 'inet6' | 'unix' | 'unspec';
  readonly transport: 'stream' | 'dgram' | 'unspec';
  /** The client; null when the socket's own peer address stands (LOCAL, UNKNOWN, unused families). */
  readonly source: ProxyEndpoint | null;
  /** The address the client connected to; null exactly when `source` is. */
  readonly destination: ProxyEndpoint | null;
  /** The header's size in bytes: the payload starts this many bytes into the connection. */
  readonly length: number;
}

export interface ProxyNeedMore {
  readonly kind: 'need-more';
}
export interface ProxyParsed {
  readonly kind: 'header';
  readonly header: ProxyHeader;
  /** Where the payload begins in the chunk just fed (equal to its length when none of it came yet). */
  readonly offset: number;
}
export interface ProxyRefused {
  readonly kind: 'refused';
  readonly reason: ProxyRefusal;
}
export type ProxyParseResult = ProxyNeedMore | ProxyParsed | ProxyRefused;

/** The longest version 1 line, CRLF included ("PROXY UNKNOWN" and two full IPv6 addresses and ports). */
export const MAX_V1_HEADER = 107;
/**
 * The largest version 2 header accepted, TLVs included. Registered TLVs are
 * small (an SNI of at most 255 bytes, a unique ID of at most 128, TLS details,
 * cloud load balancers' endpoint IDs of tens of bytes); 4 KiB leaves room
 * for all of them together.
 */
export const MAX_V2_HEADER = 4096;

/** The version 2 layout, which the tests' header writer (test/helpers/proxy-v2.ts) shares. */
export const V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
const V1_SIGNATURE = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20); // "PROXY "
export const V2_FIXED = 16;
export const ADDRESS_INET = 12;
export const ADDRESS_INET6 = 36;
const CR = 13;
const LF = 10;

const S_START = 0;
const S_V1_SIGNATURE = 1;
const S_V1_LINE = 2;
const S_V1_LF = 3;
const S_V2_SIGNATURE = 4;
const S_V2_VERSION_COMMAND = 5;
const S_V2_FAMILY = 6;
const S_V2_LENGTH_HI = 7;
const S_V2_LENGTH_LO = 8;
const S_V2_ADDRESS = 9;
const S_V2_TLV_TYPE = 10;
const S_V2_TLV_LENGTH_HI = 11;
const S_V2_TLV_LENGTH_LO = 12;
const S_V2_TLV_VALUE = 13;
const S_V2_SKIP = 14;
const S_DONE = 15;

const NEED_MORE: ProxyNeedMore = Object.freeze({ kind: 'need-more' });
const REFUSED = Object.fromEntries(PROXY_REFUSALS.map((reason) => [reason, Object.freeze({ kind: 'refused', reason })])) as Record<
  ProxyRefusal,
  ProxyRefused
>;

const FAMILIES = ['unspec', 'inet', 'inet6', 'unix'] as const;
const TRANSPORTS = ['unspec', 'stream', 'dgram'] as const;

export class ProxyHeaderParser {
  #state = S_START;
  /** Header bytes consumed so far. */
  #received = 0;
  /** Bytes matched of the current signature, or of the version 1 line copied into #scratch. */
  #index = 0;
  #scratch: Uint8Array | null = null;
  #command: 'proxy' | 'local' = 'proxy';
  #family = 0;
  #transport = 0;
  /** The version 2 header's total size, once its length field is read. */
  #total = 0;
  /** Address bytes to collect (12 or 36), or bytes left in the current TLV value or skipped block. */
  #remaining = 0;
  #outcome: ProxyParsed | ProxyRefused | null = null;

  /** Header bytes consumed so far (0 while nothing arrived: the front door tells an empty connection from a truncated header). */
  get received(): number {
    return this.#received;
  }

  /**
   * Feeds the next chunk of the connection. Once a header or a refusal was
   * returned, every later call returns the same outcome (a header then with
   * offset 0: all of a later chunk is payload).
   */
  feed(chunk: Uint8Array): ProxyParseResult {
    const done = this.#outcome;
    if (done !== null) return done.kind === 'refused' ? done : { kind: 'header', header: done.header, offset: 0 };
    const end = chunk.length;
    let i = 0;
    while (i < end) {
      switch (this.#state) {
        case S_START: {
          const byte = chunk[i++];
          if (byte === V1_SIGNATURE[0]) this.#state = S_V1_SIGNATURE;
          else if (byte === V2_SIGNATURE[0]) this.#state = S_V2_SIGNATURE;
          else return this.#refuse('signature');
          this.#index = 1;
          break;
        }
        case S_V1_SIGNATURE: {
          if (chunk[i++] !== V1_SIGNATURE[this.#index]) return this.#refuse('signature');
          if (++this.#index === V1_SIGNATURE.length) {
            this.#state = S_V1_LINE;
            this.#index = 0;
            this.#scratch = new Uint8Array(MAX_V1_HEADER - V1_SIGNATURE.length - 2);
          }
          break;
        }
        case S_V1_LINE: {
          const byte = chunk[i++];
          if (byte === CR) {
            this.#state = S_V1_LF;
          } else if (byte === LF) {
            return this.#refuse('v1-syntax');
          } else {
            const scratch = this.#scratch as Uint8Array;
            if (this.#index === scratch.length) return this.#refuse('v1-too-long');
            scratch[this.#index++] = byte;
          }
          break;
        }
        case S_V1_LF: {
          if (chunk[i++] !== LF) return this.#refuse('v1-syntax');
          this.#received += i;
          return this.#v1Line(i);
        }
        case S_V2_SIGNATURE: {
          if (chunk[i++] !== V2_SIGNATURE[this.#index]) return this.#refuse('signature');
          if (++this.#index === V2_SIGNATURE.length) this.#state = S_V2_VERSION_COMMAND;
          break;
        }
        case S_V2_VERSION_COMMAND: {
          const byte = chunk[i++];
          if (byte >> 4 !== 2) return this.#refuse('v2-version');
          const command = byte & 0x0f;
          if (command > 1) return this.#refuse('v2-command');
          this.#command = command === 1 ? 'proxy' : 'local';
          this.#state = S_V2_FAMILY;
          break;
        }
        case S_V2_FAMILY: {
          const byte = chunk[i++];
          this.#family = byte >> 4;
          this.#transport = byte & 0x0f;
          if (this.#family >= FAMILIES.length || this.#transport >= TRANSPORTS.length) return this.#refuse('v2-family');
          this.#state = S_V2_LENGTH_HI;
          break;
        }
        case S_V2_LENGTH_HI: {
          this.#total = chunk[i++] << 8;
          this.#state = S_V2_LENGTH_LO;
          break;
        }
        case S_V2_LENGTH_LO: {
          const length = this.#total | chunk[i++];
          this.#total = V2_FIXED + length;
          if (this.#total > MAX_V2_HEADER) return this.#refuse('v2-length');
          const addressLength = this.#usedAddressLength();
          if (length < addressLength) return this.#refuse('v2-length');
          if (addressLength > 0) {
            this.#state = S_V2_ADDRESS;
            this.#index = 0;
            this.#remaining = addressLength;
            this.#scratch = new Uint8Array(addressLength);
          } else {
            this.#state = S_V2_SKIP;
            this.#remaining = length;
          }
          break;
        }
        case S_V2_ADDRESS: {
          const scratch = this.#scratch as Uint8Array;
          while (i < end && this.#index < this.#remaining) scratch[this.#index++] = chunk[i++];
          if (this.#index === this.#remaining) this.#state = S_V2_TLV_TYPE;
          break;
        }
        case S_V2_TLV_TYPE: {
          i++;
          this.#state = S_V2_TLV_LENGTH_HI;
          break;
        }
        case S_V2_TLV_LENGTH_HI: {
          this.#remaining = chunk[i++] << 8;
          this.#state = S_V2_TLV_LENGTH_LO;
          break;
        }
        case S_V2_TLV_LENGTH_LO: {
          this.#remaining |= chunk[i++];
          if (this.#received + i + this.#remaining > this.#total) return this.#refuse('v2-tlv');
          this.#state = this.#remaining === 0 ? S_V2_TLV_TYPE : S_V2_TLV_VALUE;
          break;
        }
        case S_V2_TLV_VALUE:
        case S_V2_SKIP: {
          const step = Math.min(this.#remaining, end - i);
          i += step;
          this.#remaining -= step;
          if (this.#remaining === 0 && this.#state === S_V2_TLV_VALUE) this.#state = S_V2_TLV_TYPE;
          break;
        }
        default:
          return NEED_MORE;
      }
      // A version 2 header ends exactly at its length: between two TLVs or at the end of the skipped block
      // (both checked to fit when they began), never inside a TLV's own type and length.
      if (this.#state >= S_V2_TLV_TYPE && this.#state <= S_V2_SKIP && this.#received + i === this.#total) {
        if (this.#state !== S_V2_TLV_TYPE && this.#state !== S_V2_SKIP) return this.#refuse('v2-tlv');
        this.#received += i;
        return this.#v2Header(i);
      }
    }
    this.#received += end;
    return NEED_MORE;
  }

  /** The address bytes this header's family carries when they are used (0: the block is skipped whole). */
  #usedAddressLength(): number {
    if (this.#command !== 'proxy' || this.#transport !== 1) return 0;
    return this.#family === 1 ? ADDRESS_INET : this.#family === 2 ? ADDRESS_INET6 : 0;
  }

  #refuse(reason: ProxyRefusal): ProxyRefused {
    this.#state = S_DONE;
    this.#scratch = null;
    const refused = REFUSED[reason];
    this.#outcome = refused;
    return refused;
  }

  #accept(header: ProxyHeader, offset: number): ProxyParsed {
    this.#state = S_DONE;
    this.#scratch = null;
    const parsed: ProxyParsed = { kind: 'header', header, offset };
    this.#outcome = parsed;
    return parsed;
  }

  /** "TCP4 src dst sport dport", "TCP6 …" or "UNKNOWN[ anything]", now in #scratch. */
  #v1Line(offset: number): ProxyParsed | ProxyRefused {
    const line = Buffer.from((this.#scratch as Uint8Array).buffer, 0, this.#index).toString('latin1');
    const length = this.#received;
    if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) {
      return this.#accept({ version: 1, command: 'proxy', family: 'unspec', transport: 'unspec', source: null, destination: null, length }, offset);
    }
    const fields = line.split(' ');
    if (fields.length !== 5) return this.#refuse('v1-syntax');
    const [protocol, sourceText, destinationText, sourcePortText, destinationPortText] = fields;
    const family = protocol === 'TCP4' ? 'inet' : protocol === 'TCP6' ? 'inet6' : null;
    if (family === null) return this.#refuse('v1-syntax');
    const source = family === 'inet' ? v1Ipv4(sourceText) : v1Ipv6(sourceText);
    const destination = family === 'inet' ? v1Ipv4(destinationText) : v1Ipv6(destinationText);
    const sourcePort = v1Port(sourcePortText);
    const destinationPort = v1Port(destinationPortText);
    if (source === null || destination === null || sourcePort < 0 || destinationPort < 0) return this.#refuse('v1-syntax');
    return this.#accept(
      {
        version: 1,
        command: 'proxy',
        family,
        transport: 'stream',
        source: { address: source, port: sourcePort },
        destination: { address: destination, port: destinationPort },
        length,
      },
      offset,
    );
  }

  #v2Header(offset: number): ProxyParsed {
    const family = FAMILIES[this.#family];
    const transport = TRANSPORTS[this.#transport];
    const scratch = this.#scratch;
    let source: ProxyEndpoint | null = null;
    let destination: ProxyEndpoint | null = null;
    if (scratch !== null) {
      const inet = scratch.length === ADDRESS_INET;
      const size = inet ? 4 : 16;
      const format = inet ? ipv4FromBytes : ipv6FromBytes;
      const ports = 2 * size;
      source = { address: format(scratch, 0), port: (scratch[ports] << 8) | scratch[ports + 1] };
      destination = { address: format(scratch, size), port: (scratch[ports + 2] << 8) | scratch[ports + 3] };
    }
    return this.#accept({ version: 2, command: this.#command, family, transport, source, destination, length: this.#total }, offset);
  }
}

function ipv4FromBytes(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/**
 * 16 bytes as inet_ntop writes them (BIND's algorithm, which libuv and so
 * Node's `remoteAddress` use): lowercase hex without leading zeros, the first
 * longest run of two or more zero groups as `::`, and a dotted IPv4 tail for
 * IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`) addresses.
 */
function ipv6FromBytes(bytes: Uint8Array, at: number): string {
  let bestBase = -1;
  let bestLength = 0;
  let runBase = -1;
  for (let i = 0; i <= 8; i++) {
    const zero = i < 8 && bytes[at + 2 * i] === 0 && bytes[at + 2 * i + 1] === 0;
    if (zero && runBase < 0) runBase = i;
    if (!zero && runBase >= 0) {
      if (i - runBase > bestLength) {
        bestBase = runBase;
        bestLength = i - runBase;
      }
      runBase = -1;
    }
  }
  if (bestLength < 2) bestBase = -1;
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLength) {
      if (i === bestBase) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    const word = (bytes[at + 2 * i] << 8) | bytes[at + 2 * i + 1];
    if (i === 6 && bestBase === 0 && (bestLength === 6 || (bestLength === 5 && ((bytes[at + 10] << 8) | bytes[at + 11]) === 0xffff))) {
      return text + ipv4FromBytes(bytes, at + 12);
    }
    text += word.toString(16);
  }
  return bestBase >= 0 && bestBase + bestLength === 8 ? `${text}:` : text;
}

/** RFC 5952 form (lowercase, longest zero run compressed, IPv4-mapped as `::ffff:a.b.c.d`) as inet_ntop writes it; null where inet_pton refuses. */
export function canonicalIpv6(text: string): string | null {
  try {
    return new SocketAddress({ address: text, family: 'ipv6' }).address;
  } catch {
    return null;
  }
}

/** Four decimal numbers 0-255 without leading zeros, as the specification demands. */
function v1Ipv4(text: string): string | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  for (const part of parts) {
    const value = v1Decimal(part, 3);
    if (value < 0 || value > 255) return null;
  }
  return text;
}

function v1Ipv6(text: string): string | null {
  // Node's isIPv6 accepts a zone (`%eth0`), which has no place in a PROXY line.
  if (text.includes('%') || !isIPv6(text)) return null;
  return canonicalIpv6(text);
}

function v1Port(text: string): number {
  const value = v1Decimal(text, 5);
  return value > 65535 ? -1 : value;
}

/** A decimal number of 1 to `maxDigits` digits without a leading zero, or -1. */
function v1Decimal(text: string, maxDigits: number): number {
  if (text.length === 0 || text.length > maxDigits || (text.length > 1 && text.charCodeAt(0) === 0x30)) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}
