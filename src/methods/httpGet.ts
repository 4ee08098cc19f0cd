import { BosunError } from '../errors.ts';
import { ownDeadline } from './deadline.ts';
import type { MethodContext, MethodResult, MethodSpec } from './types.ts';

/** Largest body `REQHttpGet` reads by default. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** How much of an error response's body the error reply quotes. */
const ERROR_BODY_BYTES = 512;

export interface HttpGetOptions {
  /** Bodies larger than this fail with `BOSUN_TOO_LARGE` (default 10 MiB). */
  maxBodyBytes?: number;
}

/**
 * `REQHttpGet`: GETs the http(s) URL in `methodArgs[0]` and replies with the body as
 * text (UTF-8). Redirects are followed; a user and password in the URL are sent as basic
 * authentication and left out of every message.
 *
 * - A status outside 2xx is a `BOSUN_METHOD_FAILED` error quoting the status and the
 *   start of the body.
 * - A body over `maxBodyBytes` is a `BOSUN_TOO_LARGE` error; reading stops at the cap.
 * - `methodTimeout` bounds the whole request, body included (`BOSUN_METHOD_TIMEOUT`).
 */
export function httpGetMethod(options: HttpGetOptions = {}): MethodSpec {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  return {
    name: 'REQHttpGet',
    summary: 'GET the http(s) URL in methodArgs[0]; reply with the body (non-2xx is an error).',
    // A GET is meant to be safe to repeat.
    idempotent: true,
    handler: (ctx) => httpGet(ctx, maxBodyBytes),
  };
}

async function httpGet(ctx: MethodContext, maxBodyBytes: number): Promise<MethodResult> {
  const { url, headers } = withoutCredentials(urlArgument(ctx.message.methodArgs[0]));
  const shown = url.href;
  const deadline = ownDeadline(ctx.signal, ctx.message.methodTimeout);
  try {
    const response = await fetch(url, { signal: deadline.signal, redirect: 'follow', headers });
    if (!response.ok) {
      const { text, complete } = await readBody(response, ERROR_BODY_BYTES);
      const quoted = text.trim() === '' ? '' : `: ${text.trim()}${complete ? '' : '…'}`;
      throw new BosunError('BOSUN_METHOD_FAILED', `GET ${shown} answered ${response.status} ${response.statusText}${quoted}`.trimEnd());
    }
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      await response.body?.cancel();
      throw tooLarge(shown, maxBodyBytes);
    }
    const { text, complete } = await readBody(response, maxBodyBytes);
    if (!complete) throw tooLarge(shown, maxBodyBytes);
    return { output: text };
  } catch (e) {
    if (e instanceof BosunError) throw e;
    if (ctx.signal.aborted) {
      const reason = ctx.signal.reason;
      throw new BosunError(reason instanceof BosunError ? reason.code : 'BOSUN_INTERRUPTED', `GET ${shown} was stopped`, { cause: reason });
    }
    if (deadline.expired) {
      throw new BosunError('BOSUN_METHOD_TIMEOUT', `GET ${shown} did not finish within methodTimeout ${ctx.message.methodTimeout}s`, { cause: e });
    }
    throw new BosunError('BOSUN_METHOD_FAILED', `GET ${shown} failed: ${causeOf(e)}`, { cause: e });
  } finally {
    deadline.clear();
  }
}

/**
 * Reads at most `limit` bytes of the body. `complete` is false when there was more: the
 * rest is not read (the stream is cancelled).
 */
async function readBody(response: Response, limit: number): Promise<{ text: string; complete: boolean }> {
  if (!response.body) return { text: '', complete: true };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > limit) {
      chunks.push(value.subarray(0, limit - size));
      await reader.cancel();
      return { text: Buffer.concat(chunks).toString('utf8'), complete: false };
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), complete: true };
}

function tooLarge(shown: string, maxBodyBytes: number): BosunError {
  return new BosunError('BOSUN_TOO_LARGE', `GET ${shown}: the body is larger than the ${maxBodyBytes} byte limit; it was not read further`);
}

function urlArgument(value: string | undefined): URL {
  if (value === undefined || value === '') throw new BosunError('BOSUN_BAD_MESSAGE', 'REQHttpGet needs the URL in methodArgs[0]');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new BosunError('BOSUN_BAD_MESSAGE', `methodArgs[0] (the URL) is not a valid URL: "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BosunError('BOSUN_BAD_MESSAGE', `methodArgs[0] (the URL) must be http or https, not ${url.protocol.slice(0, -1)}`);
  }
  return url;
}

/**
 * fetch refuses a URL with a user and password in it; they are sent as basic
 * authentication instead, and the URL without them is the one messages show.
 */
function withoutCredentials(url: URL): { url: URL; headers: Record<string, string> } {
  if (url.username === '' && url.password === '') return { url, headers: {} };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  const bare = new URL(url.href);
  bare.username = '';
  bare.password = '';
  return { url: bare, headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } };
}

/** fetch hides the reason (ECONNREFUSED, a TLS failure…) in `cause`. */
function causeOf(e: unknown): string {
  const err = e as Error & { cause?: { message?: string } };
  return err.cause?.message ?? err.message ?? String(e);
}

export const REQHttpGet: MethodSpec = httpGetMethod();
