/**
 * PROXY protocol version 2 headers as a load balancer sends them, for tests
 * that play the load balancer. drain-proxy reads these headers and never
 * writes one, so the writer lives here, checked against HAProxy's
 * `accept-proxy` in test/listeners/proxy-protocol-peers.test.ts.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { peerAddress } from '../../src/listeners/address.ts';
import { ADDRESS_INET, ADDRESS_INET6, canonicalIpv6, type ProxyEndpoint, V2_FIXED, V2_SIGNATURE } from '../../src/listeners/proxy-protocol.ts';

export type ProxyV2Command =
  | { readonly command: 'local' }
  | { readonly command: 'proxy'; readonly source: ProxyEndpoint; readonly destination: ProxyEndpoint };

/**
 * A version 2 header: LOCAL, or PROXY for TCP over IPv4 when both addresses
 * are IPv4 (an IPv4-mapped `::ffff:a.b.c.d` counts as IPv4) and over IPv6
 * otherwise (an IPv4 address then written IPv4-mapped). Throws on an address
 * that is neither or a port outside 0-65535: the caller passes socket
 * addresses.
 */
export function writeProxyV2(header: ProxyV2Command): Buffer {
  if (header.command === 'local') {
    const out = Buffer.alloc(V2_FIXED);
    out.set(V2_SIGNATURE, 0);
    out[12] = 0x20;
    return out;
  }
  const source = peerAddress(header.source.address, '');
  const destination = peerAddress(header.destination.address, '');
  for (const endpoint of [header.source, header.destination]) {
    if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) throw new RangeError(`PROXY v2: bad port ${endpoint.port}`);
  }
  const inet = isIPv4(source) && isIPv4(destination);
  const addressLength = inet ? ADDRESS_INET : ADDRESS_INET6;
  const out = Buffer.alloc(V2_FIXED + addressLength);
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x21;
  out[13] = inet ? 0x11 : 0x21;
  out.writeUInt16BE(addressLength, 14);
  const size = inet ? 4 : 16;
  writeAddress(out, V2_FIXED, source, inet);
  writeAddress(out, V2_FIXED + size, destination, inet);
  out.writeUInt16BE(header.source.port, V2_FIXED + 2 * size);
  out.writeUInt16BE(header.destination.port, V2_FIXED + 2 * size + 2);
  return out;
}

function writeAddress(out: Buffer, at: number, address: string, inet: boolean): void {
  if (isIPv4(address)) {
    const parts = address.split('.');
    if (!inet) {
      out[at + 10] = 0xff;
      out[at + 11] = 0xff;
      at += 12;
    }
    for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
    return;
  }
  const canonical = isIPv6(address) && !address.includes('%') ? canonicalIpv6(address) : null;
  if (canonical === null) throw new RangeError(`PROXY v2: not an IP address: ${JSON.stringify(address)}`);
  const groups = ipv6Groups(canonical);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i], at + 2 * i);
}

/** The eight 16-bit groups of a canonical IPv6 address (`::` expanded, a trailing dotted IPv4 part split in two). */
function ipv6Groups(address: string): number[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const front = parse(head);
  if (tail === undefined) return front;
  const back = parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}
