import { ValueError, formatDuration } from './values.ts';
import { schema, type Config, type PortMapping } from './schema.ts';

export type { Config, PortMapping, UpstreamAddress, UpstreamHealth } from './schema.ts';
export { schema, upstreamAt } from './schema.ts';

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
    const name = setName(env, variable);
    const raw = name === undefined ? undefined : env[name];
    const text = raw === undefined ? variable.default : raw;
    try {
      config[key] = variable.parse(text);
    } catch (err) {
      if (!(err instanceof ValueError)) throw err;
      throw new ConfigError(`invalid ${name ?? variable.env}=${JSON.stringify(raw)}: ${err.message}`);
    }
  }
  const parsed = config as Config;
  checkTimings(parsed);
  checkCloseTimings(parsed, env);
  checkPorts(parsed);
  checkTls(parsed);
  return parsed;
}

function isSet(env: NodeJS.ProcessEnv, name: string | undefined): name is string {
  return name !== undefined && env[name] !== undefined && env[name] !== '';
}

/** The name a variable is set under: its own, its former one, or undefined when unset; both set is refused. */
function setName(env: NodeJS.ProcessEnv, variable: { readonly env: string; readonly formerEnv?: string }): string | undefined {
  const current = isSet(env, variable.env);
  const former = isSet(env, variable.formerEnv);
  if (current && former) {
    throw new ConfigError(
      `invalid ${variable.env}=${JSON.stringify(env[variable.env])} and ${variable.formerEnv}=${JSON.stringify(env[variable.formerEnv!])}: ` +
        `${variable.formerEnv} is the older name of ${variable.env}; set only ${variable.env}`,
    );
  }
  return current ? variable.env : former ? variable.formerEnv : undefined;
}

/** The older names the environment uses (`WS_CLOSE_SPREAD` for `CLOSE_SPREAD`), as `[older, current]` pairs, to warn about. */
export function formerNamesUsed(env: NodeJS.ProcessEnv): Array<[former: string, current: string]> {
  const used: Array<[string, string]> = [];
  for (const variable of Object.values(schema)) {
    if (isSet(env, variable.formerEnv)) used.push([variable.formerEnv, variable.env]);
  }
  return used;
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
 * Long-lived connections are told to go between t0 + DRAIN_DELAY and the
 * deadline, and WebSocket closing handshakes must end before it. Values set
 * explicitly that cannot fit there are refused; defaults are shortened to fit
 * (`closeTimings`).
 */
function checkCloseTimings(config: Config, env: NodeJS.ProcessEnv): void {
  const room = config.drainTimeout - config.drainDelay;
  if (isSet(env, 'WS_CLOSE_TIMEOUT') && config.wsCloseTimeout >= room) {
    throw new ConfigError(
      `invalid WS_CLOSE_TIMEOUT=${formatDuration(config.wsCloseTimeout)}: closing handshakes start at DRAIN_DELAY=` +
        `${formatDuration(config.drainDelay)} and must end before DRAIN_TIMEOUT=${formatDuration(config.drainTimeout)}`,
    );
  }
  const closeTimeout = Math.min(config.wsCloseTimeout, room);
  const spreadName = setName(env, schema.closeSpread);
  if (spreadName !== undefined && config.closeSpread + closeTimeout > room) {
    throw new ConfigError(
      `invalid ${spreadName}=${formatDuration(config.closeSpread)}: DRAIN_DELAY + ${spreadName} + WS_CLOSE_TIMEOUT ` +
        `(${formatDuration(config.drainDelay + config.closeSpread + closeTimeout)}) must not exceed DRAIN_TIMEOUT=` +
        `${formatDuration(config.drainTimeout)}, the one deadline`,
    );
  }
}

/**
 * The close window and the WebSocket handshake timeout actually used: the
 * configured ones, shortened when needed so that the last connection told to
 * go (and its closing handshake) ends before the deadline: DRAIN_TIMEOUT stays
 * the one hard limit. The window leaves WS_CLOSE_TIMEOUT before the deadline
 * for HTTP/2 sessions too: the streams still open at their GOAWAY finish then.
 */
export function closeTimings(config: Config): { spreadMs: number; closeTimeoutMs: number } {
  const room = config.drainTimeout - config.drainDelay;
  const closeTimeoutMs = Math.min(config.wsCloseTimeout, room);
  return { closeTimeoutMs, spreadMs: Math.max(0, Math.min(config.closeSpread, room - closeTimeoutMs)) };
}

function mappingsText(mappings: readonly PortMapping[]): string {
  return mappings.map((mapping) => `${mapping.listen}:${mapping.upstream}`).join(',');
}

/**
 * Every port the proxy listens on is bound once (LISTEN_PORT, ADMIN_PORT,
 * HTTP_PORTS, TCP_PORTS), and no upstream port is one of them: the app is in
 * the same pod, so such a port would be the proxy itself, a loop.
 */
function checkPorts(config: Config): void {
  const owners = new Map<number, string>();
  const bind = (port: number, name: string, value: string): void => {
    const taken = owners.get(port);
    if (taken !== undefined) throw new ConfigError(`invalid ${name}=${value}: listen port ${port} is already ${taken}`);
    owners.set(port, name);
  };
  bind(config.listenPort, 'LISTEN_PORT', String(config.listenPort));
  bind(config.adminPort, 'ADMIN_PORT', String(config.adminPort));
  const extra = [['HTTP_PORTS', config.httpPorts], ['TCP_PORTS', config.tcpPorts]] as const;
  for (const [name, mappings] of extra) for (const { listen } of mappings) bind(listen, name, mappingsText(mappings));
  const upstreamOwner = owners.get(config.upstream.port);
  if (upstreamOwner !== undefined) {
    throw new ConfigError(`invalid UPSTREAM=${config.upstream.url}: port ${config.upstream.port} is the proxy's own ${upstreamOwner}, not the app's`);
  }
  for (const [name, mappings] of extra) {
    for (const { upstream } of mappings) {
      const owner = owners.get(upstream);
      if (owner !== undefined) throw new ConfigError(`invalid ${name}=${mappingsText(mappings)}: upstream port ${upstream} is the proxy's own ${owner}, not the app's`);
    }
  }
}

function checkTls(config: Config): void {
  if ((config.tlsCertFile === '') === (config.tlsKeyFile === '')) return;
  const [set, unset] = config.tlsCertFile === '' ? ['TLS_KEY_FILE', 'TLS_CERT_FILE'] : ['TLS_CERT_FILE', 'TLS_KEY_FILE'];
  const value = set === 'TLS_CERT_FILE' ? config.tlsCertFile : config.tlsKeyFile;
  throw new ConfigError(`invalid ${set}=${JSON.stringify(value)}: ${unset} must be set too (TLS needs the certificate and its key)`);
}
