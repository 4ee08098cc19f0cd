import type { Harness } from './harness.ts';

// The model of the reliability model test (test/reliability.model.test.ts) and its
// checker: what the inputs were told, the totals the test prints, and the safety and
// completeness checks that compare the model with the runs the nodes recorded.

export interface Model {
  /** Accepted ids per stream, in acceptance order. */
  sent: Map<string, string[]>;
  /** Ids whose accept answered with an error: they must never run. */
  refused: Set<string>;
  /** Accepted ids whose sender asked for a reply: each must get exactly one. */
  wantsReply: Set<string>;
  nextId: number;
}

export const totals = {
  /** Property runs, shrinking included. */
  runs: 0,
  commands: {} as Record<string, number>,
  /** Faults injected, by kind; `hit@…` counts armed crash points the runtime reached. */
  faults: {} as Record<string, number>,
  /** What the bus did to frames (its own counters, summed over runs). */
  frames: {} as Record<string, number>,
  accepted: 0,
  refused: 0,
  messagesChecked: 0,
  unknown: 0,
  /** Messages of a batch cut short by a crash and reconciled (cut back, run again). */
  reconciled: 0,
  /** Batches of the ordered method, and those of several messages. */
  batches: 0,
  batchesOfSeveral: 0,
  /** Messages that ran out of retries (reported), which the checker lets be missing. */
  deadLettered: 0,
  /** Violations found, by Jepsen's category (every failing run counts, shrinking included). */
  lost: 0,
  duplicated: 0,
  reordered: 0,
  unexpected: 0,
  virtualMsDraining: 0,
  stoppedActorWarnings: 0,
  /** The attacker's frames: captured, published again, and of those renumbered. */
  attack: { captured: 0, replayed: 0, renumbered: 0 },
};

export function count(bucket: Record<string, number>, key: string, by = 1): void {
  bucket[key] = (bucket[key] ?? 0) + by;
}

export function newModel(): Model {
  return { sent: new Map(), refused: new Set(), wantsReply: new Set(), nextId: 1 };
}

class Violation extends Error {
  override name = 'Violation';
}

function fail(kind: 'lost' | 'duplicated' | 'reordered' | 'unexpected', what: string, h: Harness, m: Model): never {
  totals[kind]++;
  const sent = [...m.sent].map(([s, ids]) => `${s}: ${ids.join(',')}`).join('\n  ');
  const applied = [...h.appliedByStream()].map(([s, ids]) => `${s}: ${ids.join(',')}`).join('\n  ');
  const replies = [...h.replies].map(([id, r]) => `${id}: ${r.join(' | ')}`).join('\n  ');
  throw new Violation(
    `${kind}: ${what}\naccepted:\n  ${sent}\napplied:\n  ${applied}\nreplies:\n  ${replies}\nunknown: ${[...h.unknown].join(',')}\ndead-lettered: ${[...h.deadLettered()].join(',')}\nrefused: ${[...m.refused].join(',')}\n${h.describe()}`,
  );
}

/**
 * May this message be missing? Yes if it is unknown (its run was cut short by a crash)
 * or dead-lettered (out of retries, reported): lost, but never silently.
 */
export function mayMiss(h: Harness, dead: ReadonlySet<string>, id: string): boolean {
  return h.unknown.has(id) || dead.has(id);
}

/** Must hold after every command. */
export function assertSafety(m: Model, h: Harness): void {
  const dead = h.deadLettered();
  for (const [id, replies] of h.replies) {
    if (!m.wantsReply.has(id)) fail('unexpected', `a reply to ${id}, which asked for none or was never accepted`, h, m);
    if (replies.length > 1) fail('duplicated', `${id} got ${replies.length} replies: ${replies.join(' | ')}`, h, m);
  }
  const applied = h.appliedByStream();
  for (const [stream, ids] of applied) {
    const sent = m.sent.get(stream);
    const seen = new Set<string>();
    for (const id of ids) {
      if (seen.has(id)) fail('duplicated', `${id} ran twice on ${stream}`, h, m);
      seen.add(id);
      if (!sent?.includes(id)) fail('unexpected', `${id} ran on ${stream} but was never accepted there${m.refused.has(id) ? ' (its accept was refused)' : ''}`, h, m);
    }
    if (!stream.endsWith('~REQTestRecord')) continue;
    // In order, with gaps only where a message is unknown.
    let next = 0;
    for (const id of ids) {
      const at = sent!.indexOf(id);
      if (at < next) fail('reordered', `${id} ran after a message accepted later on ${stream}`, h, m);
      for (const skipped of sent!.slice(next, at)) {
        if (!mayMiss(h, dead, skipped)) fail('reordered', `${id} ran before ${skipped}, accepted earlier on ${stream}`, h, m);
      }
      next = at + 1;
    }
  }
}

/** After the drain: every accepted message that is not unknown ran exactly once. */
export function assertComplete(m: Model, h: Harness): void {
  assertSafety(m, h);
  const dead = h.deadLettered();
  if (h.readSpins.length > 0) throw new Violation(`a failing store read was retried in a hot loop on ${h.readSpins.join(', ')}\n${h.describe()}`);
  const applied = h.appliedByStream();
  for (const [stream, sent] of m.sent) {
    const ran = new Set(applied.get(stream) ?? []);
    for (const id of sent) {
      totals.messagesChecked++;
      if (mayMiss(h, dead, id)) continue;
      if (!ran.has(id)) fail('lost', `${id}, accepted on ${stream}, never ran`, h, m);
    }
  }
  // Every request that asked for a reply got one: its result, or the error that it was
  // interrupted.
  for (const id of m.wantsReply) {
    const replies = h.replies.get(id) ?? [];
    // A reply is a message too: its own run may be cut short by a crash of the requester.
    if (replies.length === 0 && !dead.has(id) && !mayMiss(h, dead, replyIdOf(id))) fail('lost', `the reply to ${id} never came back`, h, m);
    if (replies.length > 0 && !h.unknown.has(id) && replies[0] !== `ran ${id}`) fail('unexpected', `the reply to ${id}, which ran, says "${replies[0]}"`, h, m);
  }
  // Nothing dropped silently: every unknown message was reported as interrupted.
  const reports = h.interruptedReports();
  // A batch with an exact effect (a file append's) is reconciled, never reported interrupted.
  for (const id of h.reconciled) {
    if (!h.unknown.has(id) && reports.some((r) => r.includes(` ${id} `))) fail('unexpected', `${id} was in a batch cut back after a crash, yet reported interrupted`, h, m);
  }
  for (const id of h.unknown) {
    if (!reports.some((r) => r.includes(` ${id} `))) fail('lost', `${id} was cut short by a crash but never reported as interrupted`, h, m);
  }
}

/** The id the runtime gives the reply to request `id`. */
export const replyIdOf = (id: string) => `${id}.reply`;
