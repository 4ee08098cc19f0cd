/**
 * The credentials and TLS files of a NATS connection, read into nats.js options. Every
 * connection bosun opens to its NATS (the node's transport, the receptor gateway's own)
 * reads them here, so both log in the same way.
 */
import { access, readFile } from 'node:fs/promises';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type TlsOptions } from 'nats';
import { BosunError } from '../errors.ts';

export interface NatsAuthFiles {
  /** File holding the node's nkey seed (`SU…`). */
  nkeySeedFile?: string;
  /** A `.creds` file (user JWT and seed). */
  credsFile?: string;
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

/** @throws BosunError `BOSUN_BAD_CONFIG` when both logins are given or a file cannot be read. */
export async function natsAuthOptions(files: NatsAuthFiles): Promise<Pick<ConnectionOptions, 'authenticator' | 'tls'>> {
  const options: Pick<ConnectionOptions, 'authenticator' | 'tls'> = {};
  if (files.nkeySeedFile !== undefined && files.credsFile !== undefined) {
    throw new BosunError('BOSUN_BAD_CONFIG', 'give nkeySeedFile or credsFile, not both');
  }
  if (files.nkeySeedFile !== undefined) {
    const seed = (await readConfigFile(files.nkeySeedFile, 'nkeySeedFile')).toString('utf8').trim();
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  } else if (files.credsFile !== undefined) {
    options.authenticator = credsAuthenticator(new Uint8Array(await readConfigFile(files.credsFile, 'credsFile')));
  }
  const tls: TlsOptions = {};
  if (files.tlsCaFile !== undefined) tls.caFile = await checkConfigFile(files.tlsCaFile, 'tlsCaFile');
  if (files.tlsCertFile !== undefined) tls.certFile = await checkConfigFile(files.tlsCertFile, 'tlsCertFile');
  if (files.tlsKeyFile !== undefined) tls.keyFile = await checkConfigFile(files.tlsKeyFile, 'tlsKeyFile');
  if (Object.keys(tls).length > 0) options.tls = tls;
  return options;
}

async function readConfigFile(path: string, option: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new BosunError('BOSUN_BAD_CONFIG', `cannot read ${option} ${path}: ${(error as Error).message}`, { cause: error });
  }
}

async function checkConfigFile(path: string, option: string): Promise<string> {
  try {
    await access(path);
    return path;
  } catch (error) {
    throw new BosunError('BOSUN_BAD_CONFIG', `cannot read ${option} ${path}: ${(error as Error).message}`, { cause: error });
  }
}
