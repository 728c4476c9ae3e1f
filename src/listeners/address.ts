import { isIPv4 } from 'node:net';

/**
 * A peer's address as people write it: an IPv4 client on a dual-stack socket
 * shows up as `::ffff:10.0.0.7`, which is `10.0.0.7` for X-Forwarded-For,
 * logs and the /drain allow-list alike.
 */
export function peerAddress(address: string | undefined, unknown = 'unknown'): string {
  if (address === undefined || address === '') return unknown;
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}
