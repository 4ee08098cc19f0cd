import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { configKey } from './keys.ts';
import type { ConfigFileText, ResolvedSetting } from './resolve.ts';

/**
 * Saves the settings given as flags to the config file, as steward did with its
 * config.toml: what an operator typed once becomes the next start's default, and
 * deleting the file brings the defaults back. Secrets are never saved (they stay where
 * the operator keeps them), nor are the keys that locate the file itself, nor the keys
 * that open a way in (listeners, allow-lists): a listener opened once from the command
 * line must not come back at a later plain `bosun start` without anyone asking for it.
 *
 * The file is replaced atomically; its other keys are kept as they were. Resolves with
 * the keys saved (none when the file already said the same).
 */
export async function saveFlagsToConfigFile(file: ConfigFileText, settings: readonly ResolvedSetting[]): Promise<string[]> {
  const content: Record<string, unknown> = file.text !== undefined ? (JSON.parse(file.text) as Record<string, unknown>) : {};
  const saved: string[] = [];
  for (const setting of settings) {
    if (setting.source !== 'flag') continue;
    const spec = configKey(setting.key)!;
    if (!spec.inFile || spec.secret || spec.opensAccess) continue;
    if (JSON.stringify(content[setting.key]) === JSON.stringify(setting.fileValue)) continue;
    content[setting.key] = setting.fileValue;
    saved.push(setting.key);
  }
  if (saved.length === 0) return saved;
  await mkdir(path.dirname(file.path), { recursive: true, mode: 0o700 });
  // The operator may have put secrets in the file by hand: a new file is theirs alone,
  // an existing one keeps its mode.
  const mode = await stat(file.path).then((s) => s.mode & 0o777, () => 0o600);
  const temporary = `${file.path}.tmp-${process.pid}`;
  await writeFile(temporary, JSON.stringify(content, null, 2) + '\n', { mode });
  await rename(temporary, file.path);
  return saved;
}
