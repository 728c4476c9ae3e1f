/**
 * nginx from Debian, run from a temp prefix by the bench (the reference proxy) and the rollout (a
 * sidecar as commonly configured): the binary, installed when missing, the base configuration and
 * the forwarding headers that match drain-proxy's.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aptGetInstall, commandExists } from './debian.ts';
import { waitFor200 } from './http.ts';
import { start, type Child } from './processes.ts';

/** Debian installs nginx in /usr/sbin, which is not on a non-root PATH. */
export function nginxBinary(): string {
  return ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'].find((candidate) => existsSync(candidate)) ?? 'nginx';
}

export function nginxInstalled(): boolean {
  const nginx = nginxBinary();
  return nginx.startsWith('/') ? existsSync(nginx) : commandExists(nginx);
}

/** nginx-light, installed when missing; returns the binary's path. */
export function ensureNginx(): string {
  if (!nginxInstalled()) aptGetInstall(['nginx-light']);
  return nginxBinary();
}

/** The same header work as drain-proxy's: Host kept, X-Forwarded-For appended, X-Forwarded-Proto set. */
export function forwardingHeaders(directive: 'proxy_set_header' | 'grpc_set_header'): string {
  return ['Host $http_host', 'X-Forwarded-For $proxy_add_x_forwarded_for', 'X-Forwarded-Proto $scheme']
    .map((header) => `      ${directive} ${header};`).join('\n');
}

export interface NginxSettings {
  readonly workerConnections?: number;
  /** The worker's open-file limit (worker_rlimit_nofile); the master runs as root to set it. */
  readonly nofileLimit?: number;
  /** More directives of the http block. */
  readonly http?: string;
}

/**
 * One worker (the comparison with the single-threaded drain-proxy is per core), no access log, and
 * every path under `prefix`: Debian compiles in /var/lib/nginx, which a run must not touch.
 */
export function nginxConfig(prefix: string, servers: string, settings: NginxSettings = {}): string {
  return `${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
${settings.nofileLimit === undefined ? '' : `worker_rlimit_nofile ${settings.nofileLimit};`}
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events {
  worker_connections ${settings.workerConnections ?? 1024};
}
http {
  access_log off;
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(prefix, kind)};`).join('\n')}
${settings.http ?? ''}
${servers}
}
`;
}

/** Writes the configuration to `prefix` and starts nginx (its own process group: master and worker); resolves once `readyUrl` answers 200. */
export async function startNginx(name: string, prefix: string, readyUrl: string, config: string): Promise<Child> {
  mkdirSync(prefix, { recursive: true });
  const configPath = join(prefix, 'nginx.conf');
  const errorLog = join(prefix, 'error.log');
  writeFileSync(configPath, config);
  // -e: nginx opens its compiled-in error log before reading the config; keep even that under the prefix.
  const child = start(ensureNginx(), ['-p', prefix, '-c', configPath, '-e', errorLog, '-g', 'daemon off;'], { name, group: true });
  try {
    await waitFor200(readyUrl, child);
  } catch (error) {
    throw new Error(`${name} did not start: ${(error as Error).message}\n${existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''}`);
  }
  return child;
}
