/**
 * The container's termination message: the kubelet reads the file at
 * `terminationMessagePath` (default /dev/termination-log, which it mounts into
 * every container) when the container ends and puts it in the pod's status,
 * where `kubectl describe pod` shows it (at most 4096 bytes are kept). The
 * drain summary is written there as one JSON line when the drain ends, before
 * any wait, so it survives a SIGKILL at the end of the grace period.
 */
import { closeSync, existsSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { Logger } from './index.ts';

export const KUBELET_TERMINATION_LOG = '/dev/termination-log';

/** What the kubelet keeps of a termination message. */
const MAX_BYTES = 4096;

/**
 * Writes `message` as the termination message. `path` as configured: empty
 * writes the kubelet's file only when it exists (outside Kubernetes nothing is
 * created in /dev), `off` writes nothing, any other path is created if needed.
 * A failure is logged, never thrown: the drain is over either way.
 */
export function writeTerminationMessage(path: string, message: object, logger: Logger): void {
  if (path === 'off') return;
  const target = path === '' ? KUBELET_TERMINATION_LOG : path;
  if (path === '' && !existsSync(target)) return;
  const text = Buffer.from(`${JSON.stringify(message)}\n`).subarray(0, MAX_BYTES);
  let fd: number | undefined;
  try {
    // r+ for the kubelet's file: never create one in /dev.
    fd = openSync(target, path === '' ? 'r+' : 'w');
    ftruncateSync(fd, 0);
    writeSync(fd, text, 0, text.length, 0);
  } catch (err) {
    logger.warn({ err: (err as Error).message, path: target }, 'termination message not written');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
