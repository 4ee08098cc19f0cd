/**
 * The error body every gateway answer uses, `{"title","status","detail"}` (the Go
 * gateway's shape), and the status each failure maps to: one table for the HTTP API and
 * the jobs subject alike.
 */
import { STATUS_CODES } from 'node:http';
import { describeError } from '../errors.ts';
import { HttpError } from './body.ts';

export interface Problem {
  title: string;
  status: number;
  detail: string;
}

const STATUS_BY_CODE: Record<string, number> = {
  BOSUN_GATEWAY_NOT_CONNECTED: 404,
  BOSUN_GATEWAY_SEND_FAILED: 500,
  BOSUN_GATEWAY_TIMEOUT: 504,
};

export function problem(status: number, detail: string): Problem {
  return { title: STATUS_CODES[status] ?? 'Error', status, detail };
}

/** The answer for a failure: an `HttpError` keeps its status, known codes map, anything else is 500. */
export function problemFor(error: unknown): Problem {
  if (error instanceof HttpError) return problem(error.status, error.detail);
  const { code, message } = describeError(error);
  return problem(STATUS_BY_CODE[code] ?? 500, message);
}
