/** Rates of events over time, for the rollout's reconnect measurements. */

/** The reconnects among clients' sessions: every session of a client after its first. */
export function reconnectsOf<T extends { readonly client: number; readonly startedAt: number }>(sessions: readonly T[]): T[] {
  const firsts = new Map<number, number>();
  for (const session of sessions) firsts.set(session.client, Math.min(firsts.get(session.client) ?? Infinity, session.startedAt));
  return sessions.filter((session) => session.startedAt !== firsts.get(session.client));
}

/** The moments clients tried to reconnect. */
export function reconnectTimes(sessions: readonly { readonly client: number; readonly startedAt: number }[]): number[] {
  return reconnectsOf(sessions).map((session) => session.startedAt);
}

/** Most of `times` inside any window of `width` (sliding, not fixed bins). */
export function busiestWindow(times: readonly number[], width: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let first = 0, last = 0; first < sorted.length; first++) {
    while (last < sorted.length && sorted[last] < sorted[first] + width) last++;
    best = Math.max(best, last - first);
  }
  return best;
}
