import type { MethodSpec } from './types.ts';

/** Answers `pong from <node>`; the runtime sends it back with the message's replyMethod. */
export const REQPing: MethodSpec = {
  name: 'REQPing',
  summary: 'Reply "pong from <node>": checks that a node is reachable and running methods.',
  idempotent: true,
  async handler(ctx) {
    return { output: `pong from ${ctx.node}` };
  },
};

/**
 * Accepts a pong and does nothing else: the delivery record of the reply is the proof
 * that the ping went round, so there is nothing left to store or print.
 */
export const REQPong: MethodSpec = {
  name: 'REQPong',
  summary: 'Accept a pong (a reply to REQPing); records and prints nothing.',
  idempotent: true,
  replies: false,
  async handler(ctx) {
    ctx.log.debug({ from: ctx.message.fromNode }, 'pong received');
    return {};
  },
};
