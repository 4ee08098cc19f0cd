import { RELAY_METHOD, UNORDERED_RELAY_METHOD, relayedMessage } from '../runtime/relay.ts';
import type { MethodSpec } from './types.ts';

/**
 * Carries a message on to its target (`relayViaNode`). The run only checks the envelope
 * and names the message to hand on; the runtime writes it to the outbox together with the
 * record of the run, so a crash can neither lose it nor send it twice. Safe to run again
 * for that reason.
 */
function relayMethod(name: typeof RELAY_METHOD | typeof UNORDERED_RELAY_METHOD): MethodSpec {
  return {
    name,
    summary:
      name === RELAY_METHOD
        ? 'Carry a message on to a node its sender cannot reach (relayViaNode), in order.'
        : 'Carry an unordered (REQn…) message on to a node its sender cannot reach.',
    idempotent: true,
    inline: true,
    replies: false,
    async handler(ctx) {
      return { forward: [relayedMessage(ctx.message, ctx.node)] };
    },
  };
}

export const REQRelay = relayMethod(RELAY_METHOD);
export const REQnRelay = relayMethod(UNORDERED_RELAY_METHOD);
