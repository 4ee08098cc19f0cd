import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nkeys } from 'nats';
import { BosunError } from '../errors.ts';
import type { NatsIdentity } from '../security/natsConfig.ts';

/** The public keys of every node, one `node U…` line each, as `--nkeys` reads them. */
export const NKEYS_FILE = 'nkeys.txt';

/** Where a node's seed lives in a keys folder: its `--nats-nkey-seed-file`. */
export function seedFile(dir: string, node: string): string {
  return path.join(dir, `${node}.nk`);
}

/**
 * A user nkey per node in `dir`: its seed in `<node>.nk` (mode 0600, for the node's
 * `--nats-nkey-seed-file`), every public key in `nkeys.txt`. A seed already there is kept,
 * so running it again for a grown fleet changes no node's key.
 *
 * @throws BosunError `BOSUN_BAD_CONFIG` when a seed file there is not a user seed.
 */
export async function makeNodeKeys(dir: string, nodes: string[]): Promise<Record<string, NatsIdentity>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const identities: Record<string, NatsIdentity> = {};
  for (const node of nodes) {
    const file = seedFile(dir, node);
    const existing = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw new BosunError('BOSUN_BAD_CONFIG', `cannot read ${file}: ${error.message}`, { cause: error });
    });
    let pair: ReturnType<typeof nkeys.createUser>;
    if (existing === undefined) {
      pair = nkeys.createUser();
      await writeFile(file, `${new TextDecoder().decode(pair.getSeed())}\n`, { mode: 0o600 });
    } else {
      pair = userFromSeed(existing.trim(), file);
    }
    identities[node] = { nkey: pair.getPublicKey() };
  }
  const lines = Object.entries(identities).map(([node, id]) => `${node} ${(id as { nkey: string }).nkey}`);
  await writeFile(path.join(dir, NKEYS_FILE), `${lines.join('\n')}\n`);
  return identities;
}

function userFromSeed(seed: string, file: string): ReturnType<typeof nkeys.createUser> {
  try {
    const pair = nkeys.fromSeed(new TextEncoder().encode(seed));
    if (pair.getPublicKey().startsWith('U')) return pair;
  } catch (error) {
    throw new BosunError('BOSUN_BAD_CONFIG', `${file} does not hold a user nkey seed (SU…)`, { cause: error });
  }
  throw new BosunError('BOSUN_BAD_CONFIG', `${file} does not hold a user nkey seed (SU…)`);
}
