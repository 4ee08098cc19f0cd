import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { BosunError } from '../errors.ts';

/** The token file a daemon makes in its data dir at first start. */
export const INPUT_TOKEN_FILE = 'input.token';

/**
 * The bearer token the HTTP and TCP inputs require. Loopback is shared by every account
 * on the host, so a listener on 127.0.0.1 is no more private than the machine: only a
 * secret that the daemon's user alone can read tells its clients from the others'. The
 * unix socket needs none, as its 0600 mode does the same job.
 */
export class InputToken {
  readonly #digest: Buffer;

  private constructor(
    /** The file the token was read from, for messages. */
    readonly file: string,
    token: string,
  ) {
    this.#digest = digest(token);
  }

  /**
   * Reads the token from `file` (`--http-token-file`), or from `<dataDir>/input.token`,
   * made with 32 random bytes and mode 0600 when it does not exist yet.
   */
  static async load(dataDir: string, file?: string): Promise<InputToken> {
    const tokenFile = file ?? path.join(dataDir, INPUT_TOKEN_FILE);
    if (file === undefined) await createIfMissing(tokenFile);
    const text = await readFile(tokenFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new BosunError('BOSUN_BAD_CONFIG', `cannot read the input token file "${tokenFile}": ${e.code ?? e.message}`);
    });
    const token = text.trim();
    if (token.length < 16 || /\s/.test(token)) {
      throw new BosunError('BOSUN_BAD_CONFIG', `the input token in "${tokenFile}" must be one line of at least 16 characters without spaces`);
    }
    const mode = (await stat(tokenFile)).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new BosunError('BOSUN_BAD_CONFIG', `the input token file "${tokenFile}" is open to other users (mode ${mode.toString(8)}); chmod 600 it`);
    }
    return new InputToken(tokenFile, token);
  }

  /** True when `given` is the token; compared in constant time. */
  matches(given: string): boolean {
    return timingSafeEqual(digest(given), this.#digest);
  }

  /** True when an `Authorization` header carries the token as `Bearer <token>`. */
  authorizes(header: string | undefined): boolean {
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match !== null && this.matches(match[1]!);
  }
}

/** The refusal an input gives a client without the token. */
export function unauthenticated(how: string): BosunError {
  return new BosunError('BOSUN_UNAUTHENTICATED', `this input needs the daemon's input token: ${how}`);
}

// Equal-length digests, so comparing them leaks neither the token nor its length.
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

async function createIfMissing(file: string): Promise<void> {
  const handle = await open(file, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EEXIST') return undefined;
    throw e;
  });
  if (!handle) return;
  try {
    await handle.writeFile(randomBytes(32).toString('base64url') + '\n');
    // The umask may have narrowed the mode further, never widened it; chmod makes it exact.
    await chmod(file, 0o600);
  } finally {
    await handle.close();
  }
}
