import { ValueError, formatDuration } from './values.ts';
import { schema, type Config } from './schema.ts';

export type { Config, UpstreamAddress, UpstreamHealth } from './schema.ts';
export { schema } from './schema.ts';

/** A configuration the proxy refuses to start with; the message is one line naming the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads the configuration from an environment. An unset or empty variable takes
 * its default (`DRAIN_TOKEN`, `HOST_IP` and the addresses default to empty).
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const config: Record<string, unknown> = {};
  for (const [key, variable] of Object.entries(schema)) {
    const raw = env[variable.env];
    const text = raw === undefined || raw === '' ? variable.default : raw;
    try {
      config[key] = variable.parse(text);
    } catch (err) {
      if (!(err instanceof ValueError)) throw err;
      throw new ConfigError(`invalid ${variable.env}=${JSON.stringify(raw)}: ${err.message}`);
    }
  }
  const parsed = config as Config;
  checkTimings(parsed);
  checkWebSocketTimings(parsed, env);
  checkTcpPorts(parsed);
  return parsed;
}

function checkTimings(config: Config): void {
  if (config.drainDelay >= config.drainTimeout) {
    throw new ConfigError(
      `invalid DRAIN_DELAY=${formatDuration(config.drainDelay)}: must be shorter than ` +
        `DRAIN_TIMEOUT=${formatDuration(config.drainTimeout)}, the deadline counted from the same start`,
    );
  }
}

/**
 * WebSocket closes happen between t0 + DRAIN_DELAY and the deadline. Values set
 * explicitly that cannot fit there are refused; defaults are shortened to fit
 * (`webSocketTimings`).
 */
function checkWebSocketTimings(config: Config, env: NodeJS.ProcessEnv): void {
  const room = config.drainTimeout - config.drainDelay;
  const set = (name: string): boolean => env[name] !== undefined && env[name] !== '';
  if (set('WS_CLOSE_TIMEOUT') && config.wsCloseTimeout >= room) {
    throw new ConfigError(
      `invalid WS_CLOSE_TIMEOUT=${formatDuration(config.wsCloseTimeout)}: closing handshakes start at DRAIN_DELAY=` +
        `${formatDuration(config.drainDelay)} and must end before DRAIN_TIMEOUT=${formatDuration(config.drainTimeout)}`,
    );
  }
  const closeTimeout = Math.min(config.wsCloseTimeout, room);
  if (set('WS_CLOSE_SPREAD') && config.wsCloseSpread + closeTimeout > room) {
    throw new ConfigError(
      `invalid WS_CLOSE_SPREAD=${formatDuration(config.wsCloseSpread)}: DRAIN_DELAY + WS_CLOSE_SPREAD + WS_CLOSE_TIMEOUT ` +
        `(${formatDuration(config.drainDelay + config.wsCloseSpread + closeTimeout)}) must not exceed DRAIN_TIMEOUT=` +
        `${formatDuration(config.drainTimeout)}, the one deadline`,
    );
  }
}

/**
 * The WebSocket close window and handshake timeout actually used: the
 * configured ones, shortened when needed so that the last close frame and its
 * handshake end before the deadline (DRAIN_TIMEOUT stays the one hard limit).
 */
export function webSocketTimings(config: Config): { spreadMs: number; closeTimeoutMs: number } {
  const room = config.drainTimeout - config.drainDelay;
  const closeTimeoutMs = Math.min(config.wsCloseTimeout, room);
  return { closeTimeoutMs, spreadMs: Math.max(0, Math.min(config.wsCloseSpread, room - closeTimeoutMs)) };
}

/** A TCP_PORTS listen port must not be the public or the admin port (it would fail to bind, or take the other's place). */
function checkTcpPorts(config: Config): void {
  for (const { listen } of config.tcpPorts) {
    const taken = listen === config.listenPort ? 'LISTEN_PORT' : listen === config.adminPort ? 'ADMIN_PORT' : null;
    if (taken === null) continue;
    const text = config.tcpPorts.map((mapping) => `${mapping.listen}:${mapping.upstream}`).join(',');
    throw new ConfigError(`invalid TCP_PORTS=${text}: listen port ${listen} is already ${taken}`);
  }
}
