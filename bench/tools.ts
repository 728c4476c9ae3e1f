// The bench's load tools and nginx, from Debian, and their versions for the record.
import { aptGetInstall, commandExists } from '../harness/debian.ts';
import { nginxBinary, nginxInstalled } from '../harness/nginx.ts';
import { run } from '../harness/processes.ts';

/** wrk, nginx and h2load (nghttp2-client); whichever is missing is installed. */
export function ensureBenchTools(): void {
  const missing = [
    ...(commandExists('wrk') ? [] : ['wrk']),
    ...(commandExists('h2load') ? [] : ['nghttp2-client']),
    ...(nginxInstalled() ? [] : ['nginx-light']),
  ];
  if (missing.length > 0) aptGetInstall(missing);
}

export async function toolVersions(): Promise<{ node: string; nginx: string; wrk: string }> {
  const nginx = await run(nginxBinary(), ['-v'], { allowFailure: true });
  // wrk has no version-only flag: -v prints the version line, then usage, and exits 1.
  const wrk = await run('wrk', ['-v'], { allowFailure: true });
  return {
    node: process.version,
    nginx: /nginx\/(\S+)/.exec(nginx.stderr + nginx.stdout)?.[1] ?? 'unknown',
    wrk: /^wrk (\S+)/m.exec(wrk.stdout + wrk.stderr)?.[1] ?? 'unknown',
  };
}
