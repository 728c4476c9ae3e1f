/**
 * Who may start a drain. Taking a pod out of rotation is a privileged act: a
 * pod elsewhere in the cluster must not be able to do it. Allowed: loopback
 * (the app's own container), the node's address (kubelet lifecycle hooks come
 * from there), or the shared token.
 */
import { isIPv4 } from 'node:net';
import { peerAddress } from '../listeners/address.ts';

export class DrainGuard {
  readonly #hostIp: string;
  readonly #tokenDigest: Buffer | null;

  constructor(hostIp: string, token: string) {
    this.#hostIp = peerAddress(hostIp, '');
    this.#tokenDigest = token === '' ? null : digest(token);
  }

  allows(remoteAddress: string | undefined, tokenHeader: string | string[] | undefined): boolean {
    const address = peerAddress(remoteAddress, '');
    if (isLoopback(address)) return true;
    if (this.#hostIp !== '' && address === this.#hostIp) return true;
    if (this.#tokenDigest === null || typeof tokenHeader !== 'string') return false;
    // Digests of equal length make the comparison constant-time whatever the header's length.
    return process.getBuiltinModule('node:crypto').timingSafeEqual(digest(tokenHeader), this.#tokenDigest);
  }
}

/** node:crypto is loaded on first use: only a DRAIN_TOKEN needs it, and it costs about 1 MB of private memory. */
function digest(text: string): Buffer {
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(text).digest();
}

function isLoopback(address: string): boolean {
  return address === '::1' || (isIPv4(address) && address.startsWith('127.'));
}
