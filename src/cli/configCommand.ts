import { formatSettings } from '../config/help.ts';
import { loadConfig } from '../config/load.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { settingFlags, settingOptions, withBareBooleans } from './config.ts';
import type { CliIo } from './io.ts';

/**
 * `bosun config show [settings…]`: the settings `bosun start` would run with, given the
 * same flags, environment and config file; each with where it came from. Secrets are
 * masked. Nothing is written.
 */
export async function runConfig(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'config',
    withBareBooleans(args),
    { ...settingOptions(), json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) return io.help('config');
  const [action, ...rest] = positionals;
  if (action !== 'show') throw new UsageError(action === undefined ? 'say what to do: bosun config show' : `unknown config action "${action}"; there is: show`, 'config');
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}" for bosun config show`, 'config');
  const loaded = await loadConfig({ flags: settingFlags(values), env: io.env, cwd: io.cwd });
  if (values.json) {
    const settings = loaded.settings.map(({ fileValue: _fileValue, ...s }) => s);
    io.stdout.write(JSON.stringify({ file: loaded.file?.path ?? null, fileExists: loaded.file?.text !== undefined, settings }) + '\n');
  } else io.stdout.write(formatSettings(loaded));
  return 0;
}
