import { access, readFile } from 'node:fs/promises';
import { locateConfigFile, NATS_FILE_KEYS, resolveConfig, type ConfigFileText, type ConfigSources, type ResolvedConfig } from './resolve.ts';
import { badConfig } from './values.ts';

export interface LoadedConfig extends ResolvedConfig {
  /** The config file read (or looked for); none when nothing said where it would be. */
  file?: ConfigFileText;
}

/**
 * Finds and reads the config file, resolves every setting and checks that the files
 * the NATS settings name can be read. A config file in the config dir may be missing
 * (there is nothing to read yet); one named by `--config` must exist.
 */
export async function loadConfig(sources: Omit<ConfigSources, 'file'>): Promise<LoadedConfig> {
  const location = locateConfigFile(sources);
  let file: ConfigFileText | undefined;
  if (location) {
    const text = await readFile(location.path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' && !location.explicit) return undefined;
      throw badConfig(`cannot read the config file "${location.path}": ${e.code ?? e.message}`);
    });
    file = { ...location, ...(text !== undefined ? { text } : {}) };
  }
  const resolved = resolveConfig({ ...sources, ...(file ? { file } : {}) });
  for (const [key, option] of Object.entries(NATS_FILE_KEYS)) {
    const named = resolved.config.natsAuth[option];
    if (named === undefined) continue;
    const setting = resolved.settings.find((s) => s.key === key)!;
    const origin = setting.source === 'file' ? `"${key}" in ${setting.origin}` : setting.origin;
    await access(named).catch((e: NodeJS.ErrnoException) => {
      throw badConfig(`${key} (${origin}) is "${named}", which cannot be read: ${e.code ?? e.message}`);
    });
  }
  return { ...resolved, ...(file ? { file } : {}) };
}
