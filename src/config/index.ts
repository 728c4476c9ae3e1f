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
