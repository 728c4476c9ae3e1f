/**
 * The PROXY protocol parser (and the tests' version 2 writer), fed exact bytes: every field
 * of both versions, every header split at every byte offset, every refusal
 * (at the first wrong byte where one is wrong), and fast-check properties:
 * arbitrary and mutated bytes never throw nor read past a chunk, cuts never
 * change the outcome, parse(write(x)) is x, IPv6 addresses come out as Node
 * writes them. FUZZ_RUNS scales the properties (default 500 each, the bounded
 * run inside `npm test`); FUZZ_SECONDS=N bounds them by time instead (the N
 * seconds shared by the five), FUZZ_SEED pins the seed, and each prints a
 * `FUZZ_RESULT {json}` line for `npm run fuzz`, which runs this file beside
 * test/http1/differential.test.ts:
 *
 *   FUZZ_SECONDS=60 node --test test/listeners/proxy-protocol.test.ts
 *
 * HAProxy and curl as real peers: test/listeners/proxy-protocol-peers.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isIPv4, SocketAddress } from 'node:net';
import fc from 'fast-check';
import { peerAddress } from '../../src/listeners/address.ts';
import {
  MAX_V1_HEADER,
  MAX_V2_HEADER,
  PROXY_REFUSALS,
  type ProxyHeader,
  ProxyHeaderParser,
  type ProxyParseResult,
  type ProxyRefusal,
} from '../../src/listeners/proxy-protocol.ts';
import { type ProxyV2Command, writeProxyV2 } from '../helpers/proxy-v2.ts';

const FUZZ_SECONDS = Number(process.env.FUZZ_SECONDS ?? '') || 0;
const RUNS = Number.parseInt(process.env.FUZZ_RUNS ?? '', 10) || (FUZZ_SECONDS > 0 ? 1_000_000_000 : 500);
const SEED = process.env.FUZZ_SEED === undefined || process.env.FUZZ_SEED === '' ? undefined : Number(process.env.FUZZ_SEED);
/** The properties that share FUZZ_SECONDS. */
const PROPERTY_COUNT = 5;
const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const PAYLOAD = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');

/** The outcome of feeding `chunks` in order: the first non-need-more answer, with the payload it leaves (from the offset on, plus later chunks). */
interface Outcome {
  readonly result: ProxyParseResult;
  readonly payload: Buffer | null;
  readonly received: number;
}

/** `view` is what the parser is handed for each chunk (a watched one in the properties). */
function feedAll(chunks: readonly Uint8Array[], view = (chunk: Uint8Array): Uint8Array => chunk): Outcome {
  const parser = new ProxyHeaderParser();
  for (let n = 0; n < chunks.length; n++) {
    const result = parser.feed(view(chunks[n]));
    if (result.kind === 'need-more') continue;
    const payload = result.kind === 'header' ? Buffer.concat([chunks[n].subarray(result.offset), ...chunks.slice(n + 1)]) : null;
    return { result, payload, received: parser.received };
  }
  return { result: { kind: 'need-more' }, payload: null, received: parser.received };
}

function parse(bytes: Uint8Array): Outcome {
  return feedAll([bytes]);
}

function header(bytes: Uint8Array): ProxyHeader {
  const { result } = parse(bytes);
  assert.equal(result.kind, 'header', JSON.stringify(result));
  return (result as { header: ProxyHeader }).header;
}

function refusal(bytes: Uint8Array): ProxyRefusal | 'need-more' {
  const { result } = parse(bytes);
  assert.notEqual(result.kind, 'header', `accepted ${JSON.stringify(Buffer.from(bytes).toString('latin1'))}`);
  return result.kind === 'refused' ? result.reason : 'need-more';
}

/** A version 2 header: version/command byte, family byte, then the block (its length is written for it unless given). */
function v2(versionCommand: number, family: number, block: Uint8Array = Buffer.alloc(0), length = block.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = versionCommand;
  fixed[1] = family;
  fixed.writeUInt16BE(length, 2);
  return Buffer.concat([SIGNATURE, fixed, block]);
}

function tlv(type: number, value: Uint8Array): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

const INET_BLOCK = Buffer.from([192, 0, 2, 1, 198, 51, 100, 7, 0xdb, 0xc4, 0x01, 0xbb]); // 192.0.2.1:56260 → 198.51.100.7:443
const INET6_BLOCK = Buffer.concat([
  Buffer.from('20010db8000000000000000000000001', 'hex'),
  Buffer.from('00000000000000000000ffff0a000007', 'hex'),
  Buffer.from([0x30, 0x39, 0x1f, 0x90]),
]); // 2001:db8::1:12345 → ::ffff:10.0.0.7:8080

/** Every well-formed header of these tests, with what it must parse to. */
const VALID: ReadonlyArray<{ name: string; bytes: Buffer; expected: ProxyHeader }> = [
  {
    name: 'v1 TCP4',
    bytes: Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'),
    expected: { version: 1, command: 'proxy', family: 'inet', transport: 'stream', source: { address: '192.168.0.1', port: 56324 }, destination: { address: '192.168.0.11', port: 443 }, length: 47 },
  },
  {
    name: 'v1 TCP4 zeros',
    bytes: Buffer.from('PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n'),
    expected: { version: 1, command: 'proxy', family: 'inet', transport: 'stream', source: { address: '0.0.0.0', port: 0 }, destination: { address: '255.255.255.255', port: 65535 }, length: 44 },
  },
  {
    name: 'v1 TCP6 (canonical form out)',
    bytes: Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:1 0:0:0:0:0:FFFF:0A00:0007 1 2\r\n'),
    expected: { version: 1, command: 'proxy', family: 'inet6', transport: 'stream', source: { address: '2001:db8::1', port: 1 }, destination: { address: '::ffff:10.0.0.7', port: 2 }, length: 62 },
  },
  {
    name: 'v1 UNKNOWN',
    bytes: Buffer.from('PROXY UNKNOWN\r\n'),
    expected: { version: 1, command: 'proxy', family: 'unspec', transport: 'unspec', source: null, destination: null, length: 15 },
  },
  {
    name: 'v1 UNKNOWN, longest line',
    bytes: Buffer.from(`PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`),
    expected: { version: 1, command: 'proxy', family: 'unspec', transport: 'unspec', source: null, destination: null, length: MAX_V1_HEADER },
  },
  {
    name: 'v2 PROXY TCP4',
    bytes: v2(0x21, 0x11, INET_BLOCK),
    expected: { version: 2, command: 'proxy', family: 'inet', transport: 'stream', source: { address: '192.0.2.1', port: 56260 }, destination: { address: '198.51.100.7', port: 443 }, length: 28 },
  },
  {
    name: 'v2 PROXY TCP6',
    bytes: v2(0x21, 0x21, INET6_BLOCK),
    expected: { version: 2, command: 'proxy', family: 'inet6', transport: 'stream', source: { address: '2001:db8::1', port: 12345 }, destination: { address: '::ffff:10.0.0.7', port: 8080 }, length: 52 },
  },
  {
    name: 'v2 PROXY TCP4 with TLVs (ALPN, empty NOOP, authority, custom)',
    bytes: v2(0x21, 0x11, Buffer.concat([INET_BLOCK, tlv(0x01, Buffer.from('h2')), tlv(0x04, Buffer.alloc(0)), tlv(0x02, Buffer.from('example.com')), tlv(0xea, Buffer.alloc(300, 7))])),
    expected: { version: 2, command: 'proxy', family: 'inet', transport: 'stream', source: { address: '192.0.2.1', port: 56260 }, destination: { address: '198.51.100.7', port: 443 }, length: 28 + 5 + 3 + 14 + 303 },
  },
  {
    name: 'v2 LOCAL, no block',
    bytes: v2(0x20, 0x00),
    expected: { version: 2, command: 'local', family: 'unspec', transport: 'unspec', source: null, destination: null, length: 16 },
  },
  {
    name: 'v2 LOCAL with an address block (skipped)',
    bytes: v2(0x20, 0x11, Buffer.concat([INET_BLOCK, Buffer.from([1, 2])])),
    expected: { version: 2, command: 'local', family: 'inet', transport: 'stream', source: null, destination: null, length: 30 },
  },
  {
    name: 'v2 PROXY UNSPEC with bytes (skipped)',
    bytes: v2(0x21, 0x00, Buffer.alloc(5, 0xff)),
    expected: { version: 2, command: 'proxy', family: 'unspec', transport: 'unspec', source: null, destination: null, length: 21 },
  },
  {
    name: 'v2 PROXY UNIX stream (216 bytes, skipped)',
    bytes: v2(0x21, 0x31, Buffer.alloc(216, 0x61)),
    expected: { version: 2, command: 'proxy', family: 'unix', transport: 'stream', source: null, destination: null, length: 232 },
  },
  {
    name: 'v2 PROXY UDP4 (not used)',
    bytes: v2(0x21, 0x12, INET_BLOCK),
    expected: { version: 2, command: 'proxy', family: 'inet', transport: 'dgram', source: null, destination: null, length: 28 },
  },
  {
    name: 'v2 at the size bound',
    bytes: v2(0x21, 0x11, Buffer.concat([INET_BLOCK, tlv(0x04, Buffer.alloc(MAX_V2_HEADER - 28 - 3))])),
    expected: { version: 2, command: 'proxy', family: 'inet', transport: 'stream', source: { address: '192.0.2.1', port: 56260 }, destination: { address: '198.51.100.7', port: 443 }, length: MAX_V2_HEADER },
  },
];

describe('well-formed headers', () => {
  for (const { name, bytes, expected } of VALID) {
    test(`${name}: every field, the payload after it untouched`, () => {
      assert.equal(bytes.length, expected.length);
      const outcome = parse(Buffer.concat([bytes, PAYLOAD]));
      assert.equal(outcome.result.kind, 'header');
      assert.deepEqual((outcome.result as { header: ProxyHeader }).header, expected);
      assert.equal((outcome.result as { offset: number }).offset, bytes.length);
      assert.deepEqual(outcome.payload, PAYLOAD);
      assert.equal(outcome.received, bytes.length);
      // The header alone: the payload starts at the end of this chunk.
      const alone = parse(bytes);
      assert.equal(alone.result.kind, 'header');
      assert.equal((alone.result as { offset: number }).offset, bytes.length);
    });

    test(`${name}: split at every byte offset, and byte by byte`, () => {
      const whole = Buffer.concat([bytes, PAYLOAD]);
      for (let cut = 1; cut < whole.length; cut++) {
        const outcome = feedAll([whole.subarray(0, cut), whole.subarray(cut)]);
        assert.equal(outcome.result.kind, 'header', `cut at ${cut}`);
        assert.deepEqual((outcome.result as { header: ProxyHeader }).header, expected, `cut at ${cut}`);
        assert.deepEqual(outcome.payload, PAYLOAD, `cut at ${cut}`);
      }
      const bytewise = feedAll([...whole].map((b) => Uint8Array.of(b)));
      assert.deepEqual((bytewise.result as { header: ProxyHeader }).header, expected);
      assert.deepEqual(bytewise.payload, PAYLOAD);
      // Every strict prefix of the header needs more.
      const parser = new ProxyHeaderParser();
      for (let n = 0; n < bytes.length - 1; n++) assert.equal(parser.feed(bytes.subarray(n, n + 1)).kind, 'need-more', `byte ${n}`);
    });
  }

  test('after the header, later chunks are all payload (offset 0); after a refusal, the same refusal', () => {
    const parser = new ProxyHeaderParser();
    const first = parser.feed(VALID[0].bytes);
    assert.equal(first.kind, 'header');
    const next = parser.feed(PAYLOAD);
    assert.equal(next.kind, 'header');
    assert.equal((next as { offset: number }).offset, 0);
    const refusing = new ProxyHeaderParser();
    assert.deepEqual(refusing.feed(Buffer.from('GET')), { kind: 'refused', reason: 'signature' });
    assert.deepEqual(refusing.feed(VALID[0].bytes), { kind: 'refused', reason: 'signature' });
  });

  test('received counts header bytes only: 0 before anything, the header length after it', () => {
    const parser = new ProxyHeaderParser();
    assert.equal(parser.received, 0);
    parser.feed(Buffer.from('PROXY TCP4 1.2'));
    assert.equal(parser.received, 14);
    parser.feed(Buffer.from('.3.4 5.6.7.8 1 2\r\nGET'));
    assert.equal(parser.received, 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'.length);
  });
});

/** Refusals: the bytes and the reason; `at` is the index of the first wrong byte when the parser must refuse right there. */
const REFUSALS: ReadonlyArray<{ name: string; bytes: Buffer; reason: ProxyRefusal; at?: number }> = [
  { name: 'an HTTP request', bytes: Buffer.from('GET / HTTP/1.1\r\n\r\n'), reason: 'signature', at: 0 },
  { name: 'a TLS ClientHello', bytes: Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), reason: 'signature', at: 0 },
  { name: 'PUT (P then not R)', bytes: Buffer.from('PUT / HTTP/1.1\r\n\r\n'), reason: 'signature', at: 1 },
  { name: 'lowercase proxy', bytes: Buffer.from('PROXy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'signature', at: 4 },
  { name: 'PROXY without its space', bytes: Buffer.from('PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'signature', at: 5 },
  { name: 'v2 signature wrong at its 5th byte (the NUL)', bytes: Buffer.concat([SIGNATURE.subarray(0, 4), Buffer.from('X'), SIGNATURE.subarray(5)]), reason: 'signature', at: 4 },
  { name: 'v2 signature wrong at its last byte', bytes: Buffer.concat([SIGNATURE.subarray(0, 11), Buffer.from('\r')]), reason: 'signature', at: 11 },
  { name: 'v1 lone LF', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), reason: 'v1-syntax', at: 30 },
  { name: 'v1 CR not followed by LF', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'), reason: 'v1-syntax', at: 31 },
  { name: 'v1 CR inside the line', bytes: Buffer.from('PROXY TCP4 1.2.3.4\r 5.6.7.8 1 2\r\n'), reason: 'v1-syntax', at: 19 },
  { name: 'v1 unknown protocol', bytes: Buffer.from('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 UDP4', bytes: Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 UNKNOWN glued to more', bytes: Buffer.from('PROXY UNKNOWNX\r\n'), reason: 'v1-syntax' },
  { name: 'v1 nothing after PROXY', bytes: Buffer.from('PROXY \r\n'), reason: 'v1-syntax' },
  { name: 'v1 a field missing', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), reason: 'v1-syntax' },
  { name: 'v1 a field too many', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'), reason: 'v1-syntax' },
  { name: 'v1 two spaces', bytes: Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 trailing space', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv4 leading zero', bytes: Buffer.from('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv4 octet over 255', bytes: Buffer.from('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv4 three parts', bytes: Buffer.from('PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv4 empty part', bytes: Buffer.from('PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv4 sign', bytes: Buffer.from('PROXY TCP4 1.2.3.+4 5.6.7.8 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv6 address on TCP4', bytes: Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv4 address on TCP6', bytes: Buffer.from('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv6 with a zone', bytes: Buffer.from('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv6 two double colons', bytes: Buffer.from('PROXY TCP6 1::2::3 ::1 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 IPv6 with 9 groups', bytes: Buffer.from('PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 port leading zero', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 port over 65535', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n'), reason: 'v1-syntax' },
  { name: 'v1 port of six digits', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 port negative', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 port hex', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n'), reason: 'v1-syntax' },
  { name: 'v1 no CRLF within 107 bytes', bytes: Buffer.from(`PROXY UNKNOWN ${'f'.repeat(92)}\r\n`), reason: 'v1-too-long', at: 105 },
  { name: 'v2 version 1', bytes: v2(0x11, 0x11, INET_BLOCK), reason: 'v2-version', at: 12 },
  { name: 'v2 version 3', bytes: v2(0x31, 0x11, INET_BLOCK), reason: 'v2-version', at: 12 },
  { name: 'v2 command 2', bytes: v2(0x22, 0x11, INET_BLOCK), reason: 'v2-command', at: 12 },
  { name: 'v2 command 15', bytes: v2(0x2f, 0x11, INET_BLOCK), reason: 'v2-command', at: 12 },
  { name: 'v2 family 4', bytes: v2(0x21, 0x41, INET_BLOCK), reason: 'v2-family', at: 13 },
  { name: 'v2 transport 3', bytes: v2(0x21, 0x13, INET_BLOCK), reason: 'v2-family', at: 13 },
  { name: 'v2 LOCAL with family 15', bytes: v2(0x20, 0xf0), reason: 'v2-family', at: 13 },
  { name: 'v2 TCP4 with a block shorter than its addresses', bytes: v2(0x21, 0x11, INET_BLOCK.subarray(0, 11)), reason: 'v2-length', at: 15 },
  { name: 'v2 TCP6 with a TCP4 block', bytes: v2(0x21, 0x21, INET_BLOCK), reason: 'v2-length', at: 15 },
  { name: 'v2 beyond the size bound', bytes: v2(0x21, 0x11, Buffer.alloc(MAX_V2_HEADER - 16 + 1)), reason: 'v2-length', at: 15 },
  { name: 'v2 length 65535', bytes: v2(0x20, 0x00, Buffer.alloc(0), 0xffff), reason: 'v2-length', at: 15 },
  { name: 'v2 TLV longer than the header', bytes: v2(0x21, 0x11, Buffer.concat([INET_BLOCK, Buffer.from([0x01, 0x00, 0x03, 0x61, 0x62])])), reason: 'v2-tlv', at: 30 },
  { name: 'v2 one byte after the addresses', bytes: v2(0x21, 0x11, Buffer.concat([INET_BLOCK, Buffer.from([0x04])])), reason: 'v2-tlv', at: 28 },
  { name: 'v2 two bytes after the addresses', bytes: v2(0x21, 0x11, Buffer.concat([INET_BLOCK, Buffer.from([0x04, 0x00])])), reason: 'v2-tlv', at: 29 },
  { name: 'v2 second TLV cut by the length', bytes: v2(0x21, 0x11, Buffer.concat([INET_BLOCK, tlv(0x04, Buffer.from('ab')), Buffer.from([0x04, 0x00, 0x09])])), reason: 'v2-tlv', at: 35 },
];

describe('refusals', () => {
  test('every parser reason is exercised', () => {
    const parserReasons = PROXY_REFUSALS.filter((r) => r !== 'truncated' && r !== 'timeout');
    assert.deepEqual(new Set(REFUSALS.map((r) => r.reason)), new Set(parserReasons));
  });

  for (const { name, bytes, reason, at } of REFUSALS) {
    test(`${name}: ${reason}${at === undefined ? '' : ` at byte ${at}`}, whatever the cuts`, () => {
      assert.equal(refusal(Buffer.concat([bytes, PAYLOAD])), reason);
      if (at !== undefined) {
        assert.equal(refusal(bytes.subarray(0, at)), 'need-more', 'the bytes before the wrong one need more');
        const outcome = parse(bytes.subarray(0, at + 1));
        assert.deepEqual(outcome.result, { kind: 'refused', reason });
      }
      for (let cut = 1; cut < bytes.length; cut++) {
        assert.deepEqual(feedAll([bytes.subarray(0, cut), bytes.subarray(cut), PAYLOAD]).result, { kind: 'refused', reason }, `cut at ${cut}`);
      }
    });
  }

  test('an empty chunk needs more and consumes nothing', () => {
    const parser = new ProxyHeaderParser();
    assert.equal(parser.feed(Buffer.alloc(0)).kind, 'need-more');
    assert.equal(parser.received, 0);
  });
});

describe('writeProxyV2', () => {
  test('IPv4 pair: TCP over IPv4, 28 bytes, exactly the specification\'s layout', () => {
    const bytes = writeProxyV2({ command: 'proxy', source: { address: '192.0.2.1', port: 56260 }, destination: { address: '198.51.100.7', port: 443 } });
    assert.deepEqual(bytes, v2(0x21, 0x11, INET_BLOCK));
  });

  test('IPv6 pair, and an IPv4 peer beside an IPv6 one written IPv4-mapped', () => {
    const bytes = writeProxyV2({ command: 'proxy', source: { address: '2001:db8::1', port: 12345 }, destination: { address: '10.0.0.7', port: 8080 } });
    assert.deepEqual(bytes, v2(0x21, 0x21, INET6_BLOCK));
  });

  test('IPv4-mapped addresses from a dual-stack socket become TCP over IPv4', () => {
    const bytes = writeProxyV2({ command: 'proxy', source: { address: '::ffff:192.0.2.1', port: 56260 }, destination: { address: '::ffff:198.51.100.7', port: 443 } });
    assert.deepEqual(bytes, v2(0x21, 0x11, INET_BLOCK));
  });

  test('LOCAL: 16 bytes, UNSPEC, no block', () => {
    assert.deepEqual(writeProxyV2({ command: 'local' }), v2(0x20, 0x00));
  });

  test('a bad address or port throws', () => {
    assert.throws(() => writeProxyV2({ command: 'proxy', source: { address: 'example.com', port: 1 }, destination: { address: '::1', port: 2 } }), RangeError);
    assert.throws(() => writeProxyV2({ command: 'proxy', source: { address: 'fe80::1%eth0', port: 1 }, destination: { address: '::1', port: 2 } }), RangeError);
    assert.throws(() => writeProxyV2({ command: 'proxy', source: { address: '::1', port: 65536 }, destination: { address: '::1', port: 2 } }), RangeError);
    assert.throws(() => writeProxyV2({ command: 'proxy', source: { address: '::1', port: 1.5 }, destination: { address: '::1', port: 2 } }), RangeError);
  });
});

// ---------------------------------------------------------------------------
// Properties

/**
 * A chunk that records the highest index read: the parser reads chunks by
 * index only, so a read past the end shows here (a plain typed array would
 * quietly answer undefined).
 */
function watched(bytes: Uint8Array, reads: { max: number; beyond: number }): Uint8Array {
  return new Proxy(bytes, {
    get(target, key) {
      if (typeof key === 'string' && /^\d+$/.test(key)) {
        const index = Number(key);
        if (index >= target.length) reads.beyond++;
        reads.max = Math.max(reads.max, index);
      }
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Cuts `bytes` at the given points (taken modulo its length). */
function cutAt(bytes: Buffer, points: readonly number[]): Buffer[] {
  const at = [...new Set(points.map((p) => (bytes.length === 0 ? 0 : p % (bytes.length + 1))))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of at) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.result.kind !== b.result.kind) return false;
  if (a.result.kind === 'refused') return a.result.reason === (b.result as { reason: string }).reason;
  if (a.result.kind === 'header') {
    return JSON.stringify(a.result.header) === JSON.stringify((b.result as { header: ProxyHeader }).header) && Buffer.compare(a.payload as Buffer, b.payload as Buffer) === 0;
  }
  return a.received === b.received;
}

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
/** At most 39 characters, as the specification writes IPv6 (fast-check's mixed forms with a dotted IPv4 tail can be longer). */
const ipv6 = fc.ipV6().filter((a) => a.length <= 39);
const endpoint = (address: fc.Arbitrary<string>) => fc.record({ address, port: fc.nat(65535) });
const command: fc.Arbitrary<ProxyV2Command> = fc.oneof(
  fc.constant({ command: 'local' } as const),
  fc.record({ command: fc.constant('proxy' as const), source: endpoint(ipv4), destination: endpoint(ipv4) }),
  fc.record({ command: fc.constant('proxy' as const), source: endpoint(ipv6), destination: endpoint(ipv6) }),
);

/** A valid header of either version, with random TLVs after version 2 addresses. */
const validHeader: fc.Arbitrary<Buffer> = fc.oneof(
  fc.record({ cmd: command, tlvs: fc.array(fc.record({ type: fc.nat(255), value: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 4 }) }).map(({ cmd, tlvs }) => {
    const head = writeProxyV2(cmd);
    const extra = Buffer.concat(tlvs.map((t) => tlv(t.type, t.value)));
    const out = Buffer.concat([head, extra]);
    out.writeUInt16BE(out.length - 16, 14);
    return out;
  }),
  fc.record({ source: endpoint(ipv4), destination: endpoint(ipv4) }).map(({ source, destination }) =>
    Buffer.from(`PROXY TCP4 ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`),
  ),
  fc.record({ source: endpoint(ipv6), destination: endpoint(ipv6) }).map(({ source, destination }) =>
    Buffer.from(`PROXY TCP6 ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`),
  ),
);

/** Valid headers with a few bytes overwritten, cut short or with bytes inserted: mostly near-misses. */
const mutatedHeader: fc.Arbitrary<Buffer> = fc
  .tuple(validHeader, fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('set', 'insert', 'cut')), { minLength: 1, maxLength: 3 }))
  .map(([bytes, edits]) => {
    let out = Buffer.from(bytes);
    for (const [at, value, kind] of edits) {
      const i = at % (out.length + 1);
      if (kind === 'set' && i < out.length) out[i] = value;
      else if (kind === 'insert') out = Buffer.concat([out.subarray(0, i), Uint8Array.of(value), out.subarray(i)]);
      else out = out.subarray(0, i);
    }
    return out;
  });

const anyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([SIGNATURE, Buffer.from(b)])),
  fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.concat([Buffer.from('PROXY '), Buffer.from(b)])),
);

const cuts = fc.array(fc.nat(), { maxLength: 6 });

describe('properties', () => {
  test(`arbitrary and mutated bytes, cut anywhere: never a throw, never a read past a chunk, the same outcome as whole (${RUNS} runs each)`, () => {
    for (const [name, input] of [['arbitrary', anyBytes], ['mutated', mutatedHeader]] as const) {
      runProperty(
        name,
        fc.property(fc.tuple(input, fc.uint8Array({ maxLength: 8 })), cuts, ([bytes, tail], at) => {
          const stream = Buffer.concat([bytes, tail]);
          const reads = { max: -1, beyond: 0 };
          const chunks = cutAt(stream, at);
          const outcome = feedAll(chunks, (c) => watched(c, reads));
          assert.equal(reads.beyond, 0);
          assert.ok(stream.length === 0 || reads.max >= 0, 'the chunks were read through the watch');
          const whole = feedAll([stream]);
          assert.ok(sameOutcome(outcome, whole), `${JSON.stringify(outcome)} vs ${JSON.stringify(whole)}`);
          if (outcome.result.kind === 'header') {
            assert.ok(outcome.result.header.length <= stream.length);
            assert.deepEqual(outcome.payload, stream.subarray(outcome.result.header.length));
          }
          if (outcome.result.kind === 'need-more') assert.ok(stream.length < MAX_V2_HEADER);
        }),
      );
    }
  });

  test(`parse(writeProxyV2(x)) is x, with TLVs after the addresses, cut anywhere (${RUNS} runs)`, () => {
    runProperty(
      'round-trip',
      fc.property(command, fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 3 }), cuts, (cmd, values, at) => {
        const head = writeProxyV2(cmd);
        const bytes = Buffer.concat([head, ...values.map((v) => tlv(0xe0, v))]);
        bytes.writeUInt16BE(bytes.length - 16, 14);
        const outcome = feedAll(cutAt(Buffer.concat([bytes, PAYLOAD]), at));
        assert.equal(outcome.result.kind, 'header');
        const parsed = (outcome.result as { header: ProxyHeader }).header;
        assert.equal(parsed.version, 2);
        assert.equal(parsed.command, cmd.command);
        assert.equal(parsed.length, bytes.length);
        assert.deepEqual(outcome.payload, PAYLOAD);
        if (cmd.command === 'local') {
          assert.equal(parsed.source, null);
        } else {
          const inet = isIPv4(peerAddress(canonical(cmd.source.address))) && isIPv4(peerAddress(canonical(cmd.destination.address)));
          const expected = (address: string): string => (inet ? peerAddress(canonical(address)) : canonical(address));
          assert.deepEqual(parsed.source, { address: expected(cmd.source.address), port: cmd.source.port });
          assert.deepEqual(parsed.destination, { address: expected(cmd.destination.address), port: cmd.destination.port });
          // And written again from what was parsed: the same bytes.
          assert.deepEqual(writeProxyV2({ command: 'proxy', source: parsed.source!, destination: parsed.destination! }), head);
        }
      }),
    );
  });

  test(`every valid header parses, whole and cut anywhere (${RUNS} runs)`, () => {
    runProperty(
      'valid',
      fc.property(validHeader, cuts, (bytes, at) => {
        const outcome = feedAll(cutAt(Buffer.concat([bytes, PAYLOAD]), at));
        assert.equal(outcome.result.kind, 'header', JSON.stringify(bytes.toString('latin1')));
        assert.equal((outcome.result as { header: ProxyHeader }).header.length, bytes.length);
        assert.deepEqual(outcome.payload, PAYLOAD);
      }),
    );
  });
});

/**
 * An IPv6 address as Node's sockets write it (libuv's inet_ntop): WHATWG URL's
 * RFC 5952 form, except that IPv4-mapped (`::ffff:a.b.c.d`) and
 * IPv4-compatible (`::a.b.c.d`, a last pair of groups after 96 zero bits)
 * addresses end in dotted IPv4.
 */
function canonical(address: string): string {
  if (!address.includes(':')) return address;
  const url = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const dotted = /^::(ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(url);
  if (dotted === null) return url;
  const high = Number.parseInt(dotted[2], 16);
  const low = Number.parseInt(dotted[3], 16);
  return `::${dotted[1] ?? ''}${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

test(`v2 IPv6 addresses are written as Node's sockets write them (libuv's inet_ntop), zero runs and IPv4 tails included (${RUNS} runs)`, () => {
  const byte = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xff), fc.nat(255));
  const address = fc.oneof(
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.array(byte, { minLength: 16, maxLength: 16 }).map((b) => Uint8Array.from(b)),
    fc.array(byte, { minLength: 4, maxLength: 4 }).map((b) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...b])),
    fc.array(byte, { minLength: 4, maxLength: 4 }).map((b) => Uint8Array.from([...new Array<number>(12).fill(0), ...b])),
  );
  runProperty(
    'ipv6-format',
    fc.property(address, address, (source, destination) => {
      const parsed = header(v2(0x21, 0x21, Buffer.concat([source, destination, Buffer.from([0, 1, 0, 2])])));
      assert.equal(parsed.source?.address, nodeIpv6(source));
      assert.equal(parsed.destination?.address, nodeIpv6(destination));
    }),
  );
});

/** What `net.SocketAddress` (libuv's inet_pton and inet_ntop) makes of 16 bytes. */
function nodeIpv6(bytes: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16)).join(':');
  return new SocketAddress({ address: groups, family: 'ipv6' }).address;
}

/** Runs a property FUZZ_RUNS times, or for its share of FUZZ_SECONDS; a failure throws fast-check's report (seed, path, shrunk counterexample). */
function runProperty<Ts extends [unknown, ...unknown[]]>(name: string, property: fc.IProperty<Ts>): void {
  const plugins = FUZZ_SECONDS > 0 ? [fc.interruptAfterTimeLimit((FUZZ_SECONDS * 1000) / PROPERTY_COUNT)] : [];
  const startedAt = performance.now();
  const details = fc.check(property, { numRuns: RUNS, seed: SEED, plugins });
  if (FUZZ_SECONDS > 0) {
    const seconds = Math.round(performance.now() - startedAt) / 1000;
    console.log(`FUZZ_RESULT ${JSON.stringify({ name: `proxy-protocol/${name}`, runs: details.numRuns, seconds, seed: details.seed, failed: details.failed, counterexample: details.counterexample })}`);
  }
  if (details.failed) assert.fail(fc.defaultReportMessage(details) ?? 'property failed');
}
