import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON lines on stdout. The destination is synchronous so that the drain
 * summary written just before `process.exit` is never lost; at info level the
 * proxy logs only lifecycle events, so this costs nothing on the request path.
 */
export function createLogger(level: string): Logger {
  return pino(
    { level, base: { name: 'drain-proxy' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: true }),
  );
}
