/**
 * `bosun responses`: reads the receptor gateway's responses log over HTTP (`GET /responses`),
 * from a position, once or following it. The position is the seq of the last record
 * printed, so a follower that loses the gateway (a restart, a network cut) asks again
 * from there: nothing is printed twice or skipped.
 */
import { deadlineSignal } from '../deadlineSignal.ts';
import { BosunError, type ErrorCode } from '../errors.ts';
import { IDENTITY_HEADER, PSK_ACCOUNT_HEADER, PSK_CLIENT_HEADER, PSK_HEADER } from '../gateway/auth.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import type { CliIo } from './io.ts';

export const RESPONSES_USAGE = `Usage: bosun responses [--url URL] [--after N] [--follow] [--text] CREDENTIALS

Prints the replies that receptor nodes sent through a gateway (bosun start
--gateway-listen), read from its responses log: one JSON line per record,
{"seq", "key", "value"}, where key is the job id and value the reply. Only the
caller's account's replies are shown.

Options:
  --url URL          the gateway (default $BOSUN_GATEWAY_URL, else http://127.0.0.1:9090)
  --after N          start after this seq (default 0: from the beginning)
  --follow           keep printing replies as they arrive; when the gateway goes away
                     (a restart), try again (200 ms doubling to 5 s) from the last seq
                     printed. Ctrl-C ends it. The first request must reach the gateway.
  --json             one JSON line per record (the default)
  --text             one readable line per record: seq, job id, sender, type, code, payload
  -h, --help         this help

Credentials, one of (flags first, then the environment):
  --identity BASE64  an x-rh-identity header                      ($BOSUN_RECEPTOR_IDENTITY)
  --account N        an x-rh-identity for account N is built       ($BOSUN_RECEPTOR_ACCOUNT)
  --client-id ID --psk KEY --account N
                     a service's pre-shared key       ($BOSUN_RECEPTOR_CLIENT_ID, $BOSUN_RECEPTOR_PSK)

Exit codes: 0 done (or ended with Ctrl-C), 1 refused by the gateway (401, 403, …),
2 called wrongly or the gateway not reachable.
`;

const DEFAULT_URL = 'http://127.0.0.1:9090';
const PAGE_LIMIT = 1000;
/** How long one long-poll waits on the gateway for new records. */
const POLL_TIMEOUT_S = 20;
/** A request that takes this much longer than its long-poll went to a gateway that hangs. */
const REQUEST_GRACE_MS = 15_000;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;

interface ResponseRecord {
  seq: number;
  key: string;
  value: { sender?: unknown; message_type?: unknown; code?: unknown; payload?: unknown };
}

interface Page {
  responses: ResponseRecord[];
  last: number;
  /** Records after the position asked for were pruned by the gateway's retention; `first` is the oldest kept. */
  pruned?: boolean;
  first?: number;
}

interface ReadSettings {
  url: URL;
  headers: { [name: string]: string };
  after: number;
  follow: boolean;
  format: 'json' | 'text';
}

/** A failure worth asking again for, when following: the gateway is away or answered mid-restart. */
class GatewayAway extends BosunError {
  constructor(message: string, options?: ErrorOptions) {
    super('BOSUN_DAEMON_UNREACHABLE', message, options);
  }
}

/** `bosun responses …`: resolves with the exit code; errors are thrown for main to report. */
export async function runResponses(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('responses', args, {
    url: { type: 'string' },
    identity: { type: 'string' },
    account: { type: 'string' },
    'client-id': { type: 'string' },
    psk: { type: 'string' },
    after: { type: 'string' },
    follow: { type: 'boolean' },
    json: { type: 'boolean' },
    text: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return io.help('responses');
  if (values.json && values.text) throw new UsageError('give --json or --text, not both', 'responses');
  const settings: ReadSettings = {
    url: gatewayUrl(values.url ?? env(io, 'BOSUN_GATEWAY_URL') ?? DEFAULT_URL),
    headers: credentials(values, io),
    after: position(values.after),
    follow: values.follow ?? false,
    format: values.text ? 'text' : 'json',
  };
  return readResponses(settings, io);
}

function env(io: CliIo, name: string): string | undefined {
  const value = io.env[name];
  return value === undefined || value === '' ? undefined : value;
}

function gatewayUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url must be http://HOST:PORT, not "${text}"`, 'responses');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be an http or https URL, not "${text}"`, 'responses');
  return url;
}

function position(text: string | undefined): number {
  if (text === undefined) return 0;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new UsageError(`--after takes a seq (0 or more), not "${text}"`, 'responses');
  return value;
}

interface CredentialFlags {
  identity?: string;
  account?: string;
  'client-id'?: string;
  psk?: string;
}

/**
 * The request headers that say who is asking. Flags decide before the environment, so
 * `--account 2` is not overruled by an identity in `$BOSUN_RECEPTOR_IDENTITY`.
 */
function credentials(flags: CredentialFlags, io: CliIo): { [name: string]: string } {
  const pskFlags = flags['client-id'] ?? flags.psk ?? flags.account;
  if (flags.identity !== undefined) {
    if (pskFlags !== undefined) throw new UsageError('--identity names the caller alone; leave out --client-id, --psk and --account', 'responses');
    return { [IDENTITY_HEADER]: flags.identity };
  }
  const envIdentity = env(io, 'BOSUN_RECEPTOR_IDENTITY');
  if (pskFlags === undefined && envIdentity !== undefined) return { [IDENTITY_HEADER]: envIdentity };
  const clientId = flags['client-id'] ?? env(io, 'BOSUN_RECEPTOR_CLIENT_ID');
  const psk = flags.psk ?? env(io, 'BOSUN_RECEPTOR_PSK');
  const account = flags.account ?? env(io, 'BOSUN_RECEPTOR_ACCOUNT');
  if (clientId !== undefined || psk !== undefined) {
    const missing = [clientId === undefined && '--client-id', psk === undefined && '--psk', account === undefined && '--account'].filter(Boolean);
    if (missing.length > 0) throw new UsageError(`a pre-shared key needs --client-id, --psk and --account; ${missing.join(' and ')} missing`, 'responses');
    return { [PSK_CLIENT_HEADER]: clientId!, [PSK_HEADER]: psk!, [PSK_ACCOUNT_HEADER]: account! };
  }
  if (account !== undefined) return { [IDENTITY_HEADER]: identityFor(account) };
  throw new UsageError('say who is asking: --identity, --account, or --client-id with --psk and --account', 'responses');
}

/** The smallest identity the gateway accepts: it routes by account alone. */
function identityFor(account: string): string {
  return Buffer.from(JSON.stringify({ identity: { account_number: account, type: 'User' } })).toString('base64');
}

async function readResponses(settings: ReadSettings, io: CliIo): Promise<number> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // A reader that went away (`bosun responses | head`) ends the command, not an error.
  io.stdout.once('error', onSignal);
  try {
    if (settings.follow) await follow(settings, io, stop.signal);
    else await readToEnd(settings, io, stop.signal);
    return 0;
  } catch (error) {
    if (stop.signal.aborted) return 0;
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    io.stdout.off('error', onSignal);
  }
}

/** Prints what the log holds after `after` and returns. */
async function readToEnd(settings: ReadSettings, io: CliIo, stop: AbortSignal): Promise<void> {
  let after = settings.after;
  for (;;) {
    const page = await fetchPage(settings, after, 0, stop);
    warnIfPruned(page, after, io);
    await print(page.responses, settings.format, io, stop);
    if (page.responses.length === 0) return;
    after = page.last;
  }
}

/** Prints records as they come, until stopped; asks again after a backoff while the gateway is away. */
async function follow(settings: ReadSettings, io: CliIo, stop: AbortSignal): Promise<void> {
  let after = settings.after;
  let retryMs = 0;
  let reachedOnce = false;
  while (!stop.aborted) {
    let page: Page;
    try {
      page = await fetchPage(settings, after, POLL_TIMEOUT_S, stop);
    } catch (error) {
      if (!(error instanceof GatewayAway) || !reachedOnce || stop.aborted) throw error;
      if (retryMs === 0) io.stderr.write(`bosun: ${error.message}; trying again\n`);
      retryMs = Math.min(Math.max(retryMs * 2, RETRY_MIN_MS), RETRY_MAX_MS);
      await sleep(retryMs, stop);
      continue;
    }
    if (retryMs > 0) io.stderr.write(`bosun: the gateway at ${settings.url.origin} answers again; going on after seq ${after}\n`);
    reachedOnce = true;
    retryMs = 0;
    warnIfPruned(page, after, io);
    await print(page.responses, settings.format, io, stop);
    after = page.last;
  }
}

async function fetchPage(settings: ReadSettings, after: number, timeoutS: number, stop: AbortSignal): Promise<Page> {
  const url = new URL('responses', withTrailingSlash(settings.url));
  url.search = new URLSearchParams({ after: String(after), limit: String(PAGE_LIMIT), timeout: String(timeoutS) }).toString();
  const where = `the gateway at ${settings.url.origin}`;
  let response: Response;
  let body: string;
  const deadline = deadlineSignal(stop, timeoutS * 1000 + REQUEST_GRACE_MS);
  try {
    response = await fetch(url, { headers: { ...settings.headers, accept: 'application/json' }, signal: deadline.signal });
    body = await response.text();
  } catch (error) {
    if (stop.aborted) throw error;
    throw new GatewayAway(`${where} is not reachable (${networkReason(error)})`, { cause: error });
  } finally {
    deadline.clear();
  }
  if (response.status >= 500) throw new GatewayAway(`${where} answered ${response.status}${detailOf(body)}`);
  if (response.status !== 200) throw refused(where, response.status, body);
  try {
    const page = JSON.parse(body) as Page;
    if (!Array.isArray(page.responses) || !Number.isSafeInteger(page.last)) throw new Error('no "responses" and "last"');
    return page;
  } catch (error) {
    throw new BosunError('BOSUN_GATEWAY_PROTOCOL', `${where} did not answer with a page of responses: ${(error as Error).message}`);
  }
}

/** Records skipped because the gateway pruned them are said on stderr, never skipped in silence. */
function warnIfPruned(page: Page, after: number, io: CliIo): void {
  if (page.pruned !== true) return;
  const kept = Number.isSafeInteger(page.first) ? `; it keeps records from seq ${page.first} on` : '';
  io.stderr.write(`bosun: the gateway pruned records after seq ${after} before they were read (its retention limits)${kept}\n`);
}

function withTrailingSlash(url: URL): URL {
  return url.pathname.endsWith('/') ? url : new URL(`${url.pathname}/`, url);
}

/** The socket error's code (ECONNREFUSED, ECONNRESET…), which says more than undici's "fetch failed". */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if ((error as Error).name === 'TimeoutError') return 'no answer in time';
  return typeof cause?.message === 'string' ? cause.message : (error as Error).message;
}

/** The `detail` of the gateway's `{"title","status","detail"}` error body, as `: detail`. */
function detailOf(body: string): string {
  try {
    const detail = (JSON.parse(body) as { detail?: unknown }).detail;
    return typeof detail === 'string' && detail !== '' ? `: ${detail}` : '';
  } catch {
    return '';
  }
}

function refused(where: string, status: number, body: string): BosunError {
  const code: ErrorCode = status === 401 || status === 400 ? 'BOSUN_GATEWAY_UNAUTHENTICATED' : status === 403 ? 'BOSUN_GATEWAY_FORBIDDEN' : 'BOSUN_GATEWAY_PROTOCOL';
  return new BosunError(code, `${where} refused the request (${status})${detailOf(body)}`);
}

/** Waits for a full stdout to drain, so a slow reader slows the requests rather than filling memory. */
async function print(records: ResponseRecord[], format: 'json' | 'text', io: CliIo, stop: AbortSignal): Promise<void> {
  if (records.length === 0) return;
  const text = records.map((record) => (format === 'json' ? JSON.stringify(record) : readable(record))).join('\n') + '\n';
  if (io.stdout.write(text)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      io.stdout.off('drain', done);
      stop.removeEventListener('abort', done);
      resolve();
    };
    io.stdout.once('drain', done);
    stop.addEventListener('abort', done, { once: true });
  });
}

/** `seq job-id sender type code=N payload`, the payload as JSON so that it stays on one line. */
function readable(record: ResponseRecord): string {
  const { sender, message_type: type, code, payload } = record.value;
  return `${record.seq} ${record.key} ${String(sender)} ${String(type)} code=${String(code)} ${JSON.stringify(payload) ?? ''}`;
}

function sleep(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolve();
    }
    stop.addEventListener('abort', done, { once: true });
  });
}
