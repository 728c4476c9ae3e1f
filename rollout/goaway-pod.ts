/**
 * Baseline (t0 GOAWAY) of the reconnect measurement: the legacy app with an
 * HTTP/2 front (goaway-front.ts) on the pod's gRPC port that sends every
 * session its GOAWAY at SIGTERM while it keeps listening through DRAIN_DELAY.
 * Only gRPC goes through the front; the Service's HTTP port reaches the app.
 */
import { fileURLToPath } from 'node:url';
import { startApp, type Pod, type PodAddress } from '../demo/support/pods.ts';
import { waitFor200 } from '../harness/http.ts';
import { start } from '../harness/processes.ts';

const FRONT_SCRIPT = fileURLToPath(new URL('./goaway-front.ts', import.meta.url));

export async function startGoawayFrontPod(address: PodAddress, timings: { drainDelayMs: number; drainTimeoutMs: number }): Promise<Pod> {
  const app = await startApp(address);
  const front = start(process.execPath, [FRONT_SCRIPT], {
    name: `${address.name} goaway-front`,
    env: {
      LISTEN_HOST: address.ip,
      LISTEN_PORT: String(address.proxyPort),
      ADMIN_PORT: String(address.adminPort),
      UPSTREAM_PORT: String(address.appPort),
      DRAIN_DELAY_MS: String(timings.drainDelayMs),
      DRAIN_TIMEOUT_MS: String(timings.drainTimeoutMs),
    },
  });
  await waitFor200(`http://${address.ip}:${address.adminPort}/readyz`, front, 10_000);
  return { address, app, proxy: front, endpoint: { pod: address.name, host: address.ip, port: address.appPort }, grpcPort: address.proxyPort };
}
