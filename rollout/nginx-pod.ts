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
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureNginx } from '../bench/tools.ts';
import { waitFor200 } from '../harness/http.ts';
import { startApp, type Pod, type PodAddress } from '../demo/support/pods.ts';
import { start } from '../harness/processes.ts';

function nginxConfig(prefix: string, address: PodAddress): string {
  const app = `${address.ip}:${address.appPort}`;
  const userLine = process.getuid?.() === 0 ? 'user root;' : '';
  return `${userLine}
worker_processes 1;
error_log ${prefix}/error.log warn;
pid ${prefix}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
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
  }
}
`;
}

export async function startNginxPod(address: PodAddress, workDir: string): Promise<Pod> {
  const nginx = await ensureNginx();
  const app = await startApp(address);
  const prefix = join(workDir, address.name);
  mkdirSync(prefix, { recursive: true });
  writeFileSync(join(prefix, 'nginx.conf'), nginxConfig(prefix, address));
  const proxy = start(nginx, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { name: `${address.name} nginx`, group: true });
  await waitFor200(`http://${address.ip}:${address.proxyPort}/healthz`, proxy, 10_000);
  return {
    address,
    app,
    proxy,
    endpoint: { pod: address.name, host: address.ip, port: address.proxyPort },
    grpcPort: address.proxyPort + 1,
  };
}
