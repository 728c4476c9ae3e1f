/**
 * Emulated pods on one machine: each pod is the legacy app, optionally with
 * drain-proxy in front, on its own loopback address (127.0.0.2, 127.0.0.3, ...)
 * with the same ports in every pod, as pod IPs would be.
 */
import { fileURLToPath } from 'node:url';
import { waitFor200 } from '../../harness/http.ts';
import { canBind, freePorts } from '../../harness/ports.ts';
import { startDrainProxy } from '../../harness/drain-proxy.ts';
import { start, type Child } from '../../harness/processes.ts';
import type { Endpoint } from './traffic.ts';

export const LEGACY_APP_SCRIPT = fileURLToPath(new URL('../legacy-app.ts', import.meta.url));

export interface PodAddress {
  readonly name: string;
  readonly ip: string;
  readonly appPort: number;
  readonly proxyPort: number;
  readonly adminPort: number;
}

/** drain-proxy's configuration in a pod, as its environment (DRAIN_DELAY, CLOSE_SPREAD, ...). */
export type ProxySettings = Readonly<Record<string, string>>;

export interface Pod {
  readonly address: PodAddress;
  readonly app: Child;
  /** The sidecar in front of the app (drain-proxy, or nginx's master process), if any. */
  readonly proxy: Child | undefined;
  /** Where the Service's clients send requests: the sidecar when there is one, else the app. */
  readonly endpoint: Endpoint;
  /** The port gRPC (cleartext HTTP/2) clients reach on the pod's address. */
  readonly grpcPort: number;
}

const POD_PORTS = { appPort: 8080, proxyPort: 8000, adminPort: 9901 } as const;

/**
 * One loopback address per pod with the pods' usual ports when this machine
 * lets us bind them; otherwise every pod on 127.0.0.1 with ports of its own.
 */
export async function choosePodAddresses(names: readonly string[]): Promise<{ pods: PodAddress[]; layout: string }> {
  const podIps = names.map((name, index) => ({ name, ip: `127.0.0.${index + 2}`, ...POD_PORTS }));
  let allFree = true;
  for (const pod of podIps) {
    for (const port of Object.values(POD_PORTS)) allFree &&= await canBind(pod.ip, port);
  }
  if (allFree) return { pods: podIps, layout: 'one loopback address per pod, same ports in every pod' };
  const ports = await freePorts(3 * names.length);
  const pods = names.map((name, index) => {
    const [appPort, proxyPort, adminPort] = ports.slice(3 * index, 3 * index + 3);
    return { name, ip: '127.0.0.1', appPort, proxyPort, adminPort };
  });
  return { pods, layout: '127.0.0.2+ not bindable here (or ports taken): all pods on 127.0.0.1, ports of their own' };
}

/** Starts the pod's app container: the legacy demo app on the pod's address. */
export async function startApp(address: PodAddress): Promise<Child> {
  const app = start(process.execPath, [LEGACY_APP_SCRIPT], {
    name: `${address.name} app`,
    env: { HOST: address.ip, PORT: String(address.appPort), POD_NAME: address.name },
  });
  await waitFor200(`http://${address.ip}:${address.appPort}/healthz`, app, 10_000);
  return app;
}

export async function startPod(
  address: PodAddress,
  proxySettings: ProxySettings | undefined,
): Promise<Pod> {
  const app = await startApp(address);
  if (proxySettings === undefined) {
    return { address, app, proxy: undefined, endpoint: { pod: address.name, host: address.ip, port: address.appPort }, grpcPort: address.appPort };
  }

  const proxy = await startDrainProxy(address.appPort, {
    name: `${address.name} drain-proxy`,
    host: address.ip,
    listenPort: address.proxyPort,
    adminPort: address.adminPort,
    // The app serves gRPC on its HTTP port (it tells cleartext HTTP/2 apart by the preface).
    env: { UPSTREAM_PROTOCOL: 'h2c', UPSTREAM_HEALTH: '/healthz', LOG_LEVEL: 'info', ...proxySettings },
  });
  return { address, app, proxy, endpoint: { pod: address.name, host: address.ip, port: address.proxyPort }, grpcPort: address.proxyPort };
}
