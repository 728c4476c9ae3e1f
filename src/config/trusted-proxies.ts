/**
 * TRUSTED_PROXIES: the direct peers whose X-Forwarded-Proto is believed (an
 * ingress controller in front knows whether the client spoke https). Parsed
 * once at startup into a `net.BlockList`, matched natively; each connection
 * asks at most once.
 */
import { BlockList, isIP, isIPv4 } from 'node:net';
import { ValueError } from './values.ts';

/**
 * `private`: where a pod's in-cluster peers (ingress controllers, sidecars)
 * come from: loopback, RFC 1918, RFC 6598 shared space (some CNIs and
 * clouds), link-local, IPv6 unique-local.
 */
const PRIVATE_NETWORKS: ReadonlyArray<readonly [string, number]> = [
  ['127.0.0.0', 8],
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
];

export class TrustedProxies {
  /** The text it was parsed from, normalised: what logs and error messages show. */
  readonly text: string;
  readonly #networks: BlockList | null;

  constructor(text: string, networks: BlockList | null) {
    this.text = text;
    this.#networks = networks;
  }

  /** `address` as `peerAddress()` gives it (IPv4-mapped IPv6 already unwrapped). */
  includes(address: string): boolean {
    const networks = this.#networks;
    if (networks === null) return false;
    const family = isIP(address);
    return family !== 0 && networks.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

const EXPECTED = 'expected private, none, or comma-separated addresses and CIDRs such as private,203.0.113.0/24';

export function parseTrustedProxies(text: string): TrustedProxies {
  const value = text.trim().toLowerCase();
  if (value === 'none') return new TrustedProxies(value, null);
  const networks = new BlockList();
  const items = value.split(',').map((item) => item.trim());
  for (const item of items) {
    if (item === 'private') {
      for (const [network, prefix] of PRIVATE_NETWORKS) networks.addSubnet(network, prefix, isIPv4(network) ? 'ipv4' : 'ipv6');
      continue;
    }
    const match = /^([0-9a-f.:]+)(?:\/(\d{1,3}))?$/.exec(item);
    const family = match === null ? 0 : isIP(match[1]);
    const bits = family === 4 ? 32 : 128;
    const prefix = match?.[2] === undefined ? bits : Number(match[2]);
    if (family === 0 || prefix > bits) throw new ValueError(`${EXPECTED} (got ${JSON.stringify(item)})`);
    networks.addSubnet(match![1], prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return new TrustedProxies(items.join(','), networks);
}
