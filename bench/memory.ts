import { readdirSync, readFileSync } from 'node:fs';

/** The parent pid from /proc/PID/stat, or undefined if the process is gone. */
function parentPid(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 4 (ppid) comes two fields after the command name, which may contain spaces and parentheses.
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Resident set size in bytes from /proc/PID/status (VmRSS), or 0 if the process is gone. */
function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/** `rootPid` and all its live descendants (nginx master + worker). */
export function processTree(rootPid: number): number[] {
  const childrenOf = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const ppid = parentPid(pid);
    if (ppid === undefined) continue;
    const siblings = childrenOf.get(ppid) ?? [];
    siblings.push(pid);
    childrenOf.set(ppid, siblings);
  }
  const tree: number[] = [];
  const pending = [rootPid];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    tree.push(pid);
    pending.push(...(childrenOf.get(pid) ?? []));
  }
  return tree;
}

/** Summed resident memory of a process tree, in bytes. */
export function processTreeRssBytes(rootPid: number): number {
  const total = processTree(rootPid).reduce((sum, pid) => sum + residentBytes(pid), 0);
  if (total === 0) throw new Error(`process ${rootPid} is gone`);
  return total;
}
