import { BosunError } from '../errors.ts';

/**
 * The rule every transport's `start` keeps: a transport serves one node, is started once,
 * and once closed is never started again. Throws `BOSUN_TRANSPORT` when a start breaks it.
 */
export function assertStartable(closed: boolean, startedFor: string | undefined): void {
  if (closed) throw new BosunError('BOSUN_TRANSPORT', 'cannot start a closed transport');
  if (startedFor !== undefined) throw new BosunError('BOSUN_TRANSPORT', `transport already started for node ${startedFor}`);
}
