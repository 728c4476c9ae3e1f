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

export async function toolVersions(): Promise<{ node: string; nginx: string; wrk: string; h2load: string }> {
  const output = async (command: string, args: string[]): Promise<string> => {
    const { stdout, stderr } = await run(command, args, { allowFailure: true });
    return stdout + stderr;
  };
  return {
    node: process.version,
    nginx: /nginx\/(\S+)/.exec(await output(nginxBinary(), ['-v']))?.[1] ?? 'unknown',
    // wrk has no version-only flag: -v prints the version line, then usage, and exits 1.
    wrk: /^wrk (\S+)/m.exec(await output('wrk', ['-v']))?.[1] ?? 'unknown',
    h2load: /nghttp2\/(\S+)/.exec(await output('h2load', ['--version']))?.[1] ?? 'unknown',
  };
}
