import type { AnyActorRef } from 'xstate';
import { ExitSignal } from '../../supervisors/ExitSignal.ts';
import type { ChildHandle, TreeNode } from '../../supervisors/types.ts';

/**
 * Adapts a runtime object driven by an xstate actor (a subject, a subscriber, a
 * connection) to the supervisor's child interface: the actor's failure is the child's
 * exit with `error`, and stopping the child stops the object.
 */
export function workerHandle(
  actor: AnyActorRef,
  options: { stop(): void | Promise<void>; describe(): Omit<TreeNode, 'id' | 'restarts' | 'kind'> },
): ChildHandle {
  const exit = new ExitSignal();
  // Every actor gets an error observer: an unobserved actor error would crash Node.
  actor.subscribe({
    error: (error: unknown) => exit.fire({ kind: 'error', error }),
  });
  if (actor.getSnapshot().status === 'error') exit.fire({ kind: 'error', error: actor.getSnapshot().error });
  return {
    async stop() {
      await options.stop();
      exit.fire({ kind: 'shutdown' });
    },
    kill() {
      void options.stop();
      exit.fire({ kind: 'killed' });
    },
    onExit: (listener) => exit.listen(listener),
    // The object is stopped first, so its restart does not meet it still running.
    fault(error) {
      void Promise.resolve(options.stop()).finally(() => exit.fire({ kind: 'error', error }));
    },
    describe: options.describe,
  };
}
