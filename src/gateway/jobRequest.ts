/**
 * A job as `POST /job` and the jobs subject both take it:
 * `{"account","recipient","payload","directive"}`, all required.
 */
import { HttpError, stringField } from './body.ts';
import type { JobRequest } from './gateway.ts';

const DIRECTIVE = /^[^:]+:.+$/s;

/** Validates a parsed body as a job. @throws HttpError 400 naming the field at fault */
export function readJobRequest(body: Record<string, unknown>): JobRequest {
  const job: JobRequest = {
    account: stringField(body, 'account'),
    recipient: stringField(body, 'recipient'),
    payload: body.payload,
    directive: stringField(body, 'directive'),
  };
  if (job.payload === undefined || job.payload === null) throw new HttpError(400, 'Missing required field "payload"');
  if (!DIRECTIVE.test(job.directive)) throw new HttpError(400, 'The "directive" field must be "namespace:action"');
  return job;
}
