import { chmod, chown, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Daemon, removeTempDirs, runBosun, tempDir } from './helpers/daemon.ts';

/** The data dir holds command output and message arguments: nobody but the daemon's user may read it. */
let daemons: Daemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.kill()));
  removeTempDirs();
});

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

describe('the data dir’s permissions', () => {
  it('tightens a data dir that exists with mode 0755 (mkdir -p, a systemd StateDirectory): folders 0700, database and key files 0600', async () => {
    const dataDir = path.join(await tempDir(), 'perm1');
    // As an earlier daemon under a loose umask, or a package's install script, left it.
    for (const folder of ['', 'db', 'files', 'files/REQCliCommand']) {
      await mkdir(path.join(dataDir, folder), { recursive: true });
      await chmod(path.join(dataDir, folder), 0o755);
    }
    await writeFile(path.join(dataDir, 'files', 'REQCliCommand', 'old.out'), 'secret output\n', { mode: 0o644 });

    const daemon = await Daemon.start({ node: 'perm1', dataDir, args: ['--secure', 'true', '--central', 'perm1'] });
    daemons.push(daemon);
    expect(await mode(dataDir)).toBe(0o700);
    for (const folder of ['db', 'files', 'keys']) expect([folder, await mode(path.join(dataDir, folder))]).toEqual([folder, 0o700]);
    for (const file of [...(await filesUnder(path.join(dataDir, 'db'))), ...(await filesUnder(path.join(dataDir, 'keys')))]) {
      // Files LevelDB makes later (compactions) take the umask's mode; the 0700 folders keep them out of reach.
      expect([file, await mode(file)]).toEqual([file, 0o600]);
    }
  });

  it('refuses a data dir that belongs to another user, before opening anything in it', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test makes a dir owned by another user, which needs root');
    const dataDir = path.join(await tempDir(), 'perm2');
    await mkdir(dataDir, { mode: 0o755 });
    await chown(dataDir, 65534, 65534);
    const result = await runBosun(['start', '--node', 'perm2', '--data-dir', dataDir, '--hello-interval', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`bosun: node perm2 could not start: "${dataDir}" belongs to user 65534, not to the daemon's user 0; give the daemon a data dir of its own\n`);
    expect(await readdir(dataDir)).toEqual([]);
  });
});
