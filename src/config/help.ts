import { METHOD_SWITCH_KEYS, STATIC_KEYS, type ConfigKey } from './keys.ts';
import type { LoadedConfig } from './load.ts';

function flagOf(spec: ConfigKey): string {
  return `--${spec.key} ${spec.arg}`;
}

/** Every key of `bosun start` with its flag, environment variable, default and meaning. */
export function formatKeysHelp(): string {
  const flagWidth = Math.max(...STATIC_KEYS.map((k) => flagOf(k).length)) + 2;
  const envWidth = Math.max(...STATIC_KEYS.map((k) => k.env.length)) + 3;
  const lines = STATIC_KEYS.map(
    (k) => `  ${flagOf(k).padEnd(flagWidth)}${`$${k.env}`.padEnd(envWidth)}default ${k.defaultText}\n      ${k.meaning}${k.secret ? ' (a secret: never saved)' : ''}`,
  );
  const switchWidth = Math.max(...METHOD_SWITCH_KEYS.map((k) => flagOf(k).length)) + 2;
  const switches = METHOD_SWITCH_KEYS.map((k) => `  ${flagOf(k).padEnd(switchWidth)}$${k.env}`);
  return `${lines.join('\n')}\n\nMethod switches: which built-in methods this node serves (each defaults to true):\n${switches.join('\n')}\n`;
}

/** `bosun config show`: each key, its value in effect (secrets masked) and where it came from. */
export function formatSettings(loaded: LoadedConfig): string {
  const rows = loaded.settings.map((s) => {
    const source = s.source === 'default' ? 'default' : s.source === 'file' ? 'file' : `${s.source} (${s.origin})`;
    return [s.key, s.shown, s.thisStartOnly ? `${source}, this start only: not saved` : source];
  });
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length), i === 0 ? 3 : 5) + 2);
  const file = loaded.file
    ? `config file: ${loaded.file.path}${loaded.file.text === undefined ? ' (not there yet)' : ''}`
    : 'config file: none (no node, data dir or config dir given)';
  const table = [['KEY', 'VALUE', 'SOURCE'], ...rows].map((r) => `${r[0]!.padEnd(widths[0]!)}${r[1]!.padEnd(widths[1]!)}${r[2]}`.trimEnd());
  return `${file}\n${table.join('\n')}\n`;
}
