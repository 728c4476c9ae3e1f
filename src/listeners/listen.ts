import type { Server } from 'node:net';

/**
 * Binds `server` (an empty `host` is every address); resolves with the port bound, rejects when it cannot bind.
 * The public, TCP and admin ports all listen through this.
 */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: host === '' ? undefined : host }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}
