/**
 * Real Helm 3 and Helm 4 (scripts/helm.ts) on the inject tests' charts:
 * `web`, a chart that knows nothing of drain-proxy, and `web-wired`, the same
 * chart wired by its author with the library chart. Charts are copied to a
 * temporary directory, the library into web-wired's charts/ (Helm takes an
 * unpacked dependency there), so nothing is written into the repository.
 * Helm is fetched at import, before any test's timeout starts.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { helmInstalls, runHelm, type HelmInstall, type HelmResult } from '../../scripts/helm.ts';
import { fixtures, repoRoot } from './support.ts';

export const installs: readonly HelmInstall[] = helmInstalls();

export const work = mkdtempSync(path.join(tmpdir(), 'drain-proxy-inject-helm-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** A copy of a fixture chart; `web-wired` gets the library chart as its dependency. */
export function chartCopy(name: 'web' | 'web-wired'): string {
  const dir = path.join(work, 'charts', name);
  cpSync(path.join(fixtures, 'charts', name), dir, { recursive: true });
  if (name === 'web-wired') cpSync(path.join(repoRoot, 'charts/drain-proxy'), path.join(dir, 'charts/drain-proxy'), { recursive: true });
  return dir;
}

export function helm(install: HelmInstall, args: readonly string[], env?: NodeJS.ProcessEnv): HelmResult {
  return runHelm(install, args, env);
}

/** `helm template` that must succeed: its output. */
export function template(install: HelmInstall, args: readonly string[], env?: NodeJS.ProcessEnv): string {
  const result = runHelm(install, ['template', ...args], env);
  assert.equal(result.code, 0, `helm ${install.version} template ${args.join(' ')}:\n${result.stderr}`);
  return result.stdout;
}
