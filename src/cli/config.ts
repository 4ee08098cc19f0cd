import { CONFIG_KEYS } from '../config/keys.ts';
import { resolveConfig, type ConfigSources, type StartConfig } from '../config/resolve.ts';

export { LOG_LEVELS, type LogLevel } from '../config/keys.ts';
export { defaultDataDir, type ConfigSources, type StartConfig } from '../config/resolve.ts';

/** `parseArgs` options for every setting of `bosun start`: `--<key> VALUE`. */
export function settingOptions(): Record<string, { type: 'string' }> {
  return Object.fromEntries(CONFIG_KEYS.map((k) => [k.key, { type: 'string' as const }]));
}

const BOOLEAN_FLAGS = new Set(CONFIG_KEYS.filter((k) => k.kind === 'bool').map((k) => `--${k.key}`));

/**
 * A boolean setting given bare (`--secure`, then another flag or nothing) means true: the
 * word is added, so `--secure`, `--secure true` and `--secure=true` are one thing, and
 * `--secure false` stays false (and `--secure maybe` is refused as a bad value).
 */
export function withBareBooleans(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    out.push(arg);
    if (arg === '--') {
      out.push(...args.slice(i + 1));
      break;
    }
    const next = args[i + 1];
    if (BOOLEAN_FLAGS.has(arg) && (next === undefined || next.startsWith('-'))) out.push('true');
  }
  return out;
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
