/**
 * Baseline (c): nginx from Debian as the sidecar in front of the legacy app, as
 * commonly configured: WebSocket upgrade headers passed on, buffering off for
 * event streams, gRPC through `grpc_pass`, and a preStop hook that sleeps and
 * then asks for a graceful quit (`nginx -s quit`, i.e. SIGQUIT to the master:
 * listeners and idle keep-alive connections close, requests in flight finish,
 * upgraded connections are kept until they end).
 *
 * nginx 1.22 (Debian 12) cannot serve HTTP/1.1 and cleartext HTTP/2 on one
 * port, so gRPC gets its own: the Service's gRPC port targets proxyPort + 1 in
 * these pods.
 */
import { join } from 'node:path';
import { startApp, type Pod, type PodAddress } from '../demo/support/pods.ts';
import { nginxConfig, startNginx } from '../harness/nginx.ts';

function servers(address: PodAddress): string {
  const app = `${address.ip}:${address.appPort}`;
  return `  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen ${address.ip}:${address.proxyPort};
    location / {
      proxy_pass http://${app};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
  server {
    listen ${address.ip}:${address.proxyPort + 1} http2;
    location / {
      grpc_pass grpc://${app};
      grpc_read_timeout 1h;
    }
  }`;
}

export async function startNginxPod(address: PodAddress, workDir: string): Promise<Pod> {
  const app = await startApp(address);
  const prefix = join(workDir, address.name);
  const proxy = await startNginx(`${address.name} nginx`, prefix, `http://${address.ip}:${address.proxyPort}/healthz`, nginxConfig(prefix, servers(address)));
  return {
    address,
    app,
    proxy,
    endpoint: { pod: address.name, host: address.ip, port: address.proxyPort },
    grpcPort: address.proxyPort + 1,
  };
}
