/**
 * Reads a JSON request body the way the Go gateway's decoder did: capped in size, one
 * JSON object and nothing after it, with messages that say which rule was broken.
 */
import type { IncomingMessage } from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** Where the first JSON value in `text` ends (exclusive), or -1 if it never closes. */
function endOfFirstValue(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Parses `text` as exactly one JSON object. @throws HttpError 400 */
export function parseJsonObject(text: string): Record<string, unknown> {
  const start = text.search(/\S/);
  if (start < 0) throw new HttpError(400, 'Request body must not be empty');
  if (text[start] !== '{') throw new HttpError(400, 'Request body must be a JSON object');
  const end = endOfFirstValue(text, start);
  if (end < 0) throw new HttpError(400, 'Request body contains badly-formed JSON');
  if (/\S/.test(text.slice(end))) throw new HttpError(400, 'Request body must only contain one json object');
  try {
    return JSON.parse(text.slice(start, end)) as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'Request body contains badly-formed JSON');
  }
}

/** Reads at most `limit` bytes of body. @throws HttpError 413 beyond, 400 for bad UTF-8 */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, `Request body must not be larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `Request body must not be larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new HttpError(400, 'Request body is not UTF-8');
  }
}

/** A required, non-empty string field. @throws HttpError 400 */
export function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (value === undefined || value === null || value === '') throw new HttpError(400, `Missing required field "${name}"`);
  if (typeof value !== 'string') throw new HttpError(400, `Request body contains an invalid value for the "${name}" field: expected a string`);
  return value;
}
