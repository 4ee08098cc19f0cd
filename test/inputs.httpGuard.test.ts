import { writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refuseRequest, type HttpAccess } from '../src/inputs/httpGuard.ts';
import { InputToken } from '../src/inputs/inputToken.ts';
import { removeTempDirs, tempDir } from './helpers/daemon.ts';

/** Which requests reach the messages endpoint, header by header. */
let access: HttpAccess;
const TOKEN = 'a-token-of-enough-length-0123456789';

beforeAll(async () => {
  const dir = await tempDir('bosun-guard-');
  const file = path.join(dir, 'token');
  await writeFile(file, TOKEN + '\n', { mode: 0o600 });
  access = { token: await InputToken.load(dir, file), allowedOrigins: ['https://ui.example:8443'], allowedHosts: ['bosun.internal'] };
});

afterAll(() => removeTempDirs());

function req(headers: Record<string, string>): IncomingMessage {
  return { headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) } as unknown as IncomingMessage;
}

const good = { Host: '127.0.0.1:8080', Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
const code = (headers: Record<string, string>, messages = true): string | undefined => refuseRequest(req(headers), access, messages)?.error.code;

describe('refuseRequest', () => {
  it.each([
    ['an IPv4 address', '127.0.0.1:8080'],
    ['an IPv6 address', '[::1]:8080'],
    ['localhost', 'localhost:8080'],
    ['an allowed name, in any case', 'Bosun.Internal:8080'],
    ['an address without a port', '10.0.0.5'],
  ])('takes a Host that is %s', (_what, host) => {
    expect(code({ ...good, Host: host })).toBeUndefined();
  });

  it.each([
    ['a name not allowed (DNS rebinding)', 'evil.example:8080'],
    ['a name that only starts like an address', '127.0.0.1.evil.example'],
    ['nothing', ''],
  ])('refuses a Host that is %s', (_what, host) => {
    expect(code({ ...good, Host: host })).toBe('BOSUN_FORBIDDEN_HOST');
  });

  it('takes no Origin or an allowed one, refuses any other, health checks included', () => {
    expect(code({ ...good, Origin: 'https://ui.example:8443' })).toBeUndefined();
    expect(code({ ...good, Origin: 'https://ui.example' })).toBe('BOSUN_FORBIDDEN_ORIGIN');
    expect(code({ ...good, Origin: 'null' })).toBe('BOSUN_FORBIDDEN_ORIGIN');
    expect(code({ Host: '127.0.0.1', Origin: 'http://evil.example' }, false)).toBe('BOSUN_FORBIDDEN_ORIGIN');
    expect(code({ Host: '127.0.0.1' }, false)).toBeUndefined();
  });

  it('needs the bearer token and a JSON content type on the messages endpoint', () => {
    expect(code({ ...good, Authorization: `bearer  ${TOKEN}` })).toBeUndefined();
    expect(code({ ...good, Authorization: `Basic ${TOKEN}` })).toBe('BOSUN_UNAUTHENTICATED');
    expect(code({ ...good, Authorization: `Bearer ${TOKEN}x` })).toBe('BOSUN_UNAUTHENTICATED');
    expect(code({ ...good, 'Content-Type': 'application/json; charset=utf-8' })).toBeUndefined();
    expect(code({ ...good, 'Content-Type': 'text/plain' })).toBe('BOSUN_UNSUPPORTED_MEDIA_TYPE');
    expect(code({ ...good, 'Content-Type': 'application/x-www-form-urlencoded' })).toBe('BOSUN_UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('InputToken', () => {
  it('refuses a token file other users can read', async () => {
    const dir = await tempDir('bosun-guard-');
    const file = path.join(dir, 'token');
    await writeFile(file, TOKEN, { mode: 0o644 });
    await expect(InputToken.load(dir, file)).rejects.toThrow(/open to other users \(mode 644\); chmod 600 it/);
  });
});
