import { CONFIG_KEYS } from '../config/keys.ts';
import { resolveConfig, type ConfigSources, type StartConfig } from '../config/resolve.ts';

export { LOG_LEVELS, type LogLevel } from '../config/keys.ts';
export { defaultDataDir, type ConfigSources, type StartConfig } from '../config/resolve.ts';

/** `parseArgs` options for every setting of `bosun start`: `--<key> VALUE`. */
export function settingOptions(): Record<string, { type: 'string' }> {
  return Object.fromEntries(CONFIG_KEYS.map((k) => [k.key, { type: 'string' as const }]));
}

/** The settings among parsed options, by key. */
export function settingFlags(values: Record<string, unknown>): Record<string, string | undefined> {
  const flags: Record<string, string | undefined> = {};
  for (const { key } of CONFIG_KEYS) if (typeof values[key] === 'string') flags[key] = values[key];
  return flags;
}

/** The settings of `bosun start` from sources already read (see `resolveConfig`). */
export function resolveStartConfig(sources: ConfigSources): StartConfig {
  return resolveConfig(sources).config;
}
