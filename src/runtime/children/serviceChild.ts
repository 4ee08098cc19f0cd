import { ExitSignal } from '../../../supervisors/ExitSignal.ts';
import type { ChildHandle, ChildSpec, RestartType, Shutdown, TreeNode } from '../../../supervisors/types.ts';

/** A running long-lived thing that is not an actor: a listener, a link, a watcher. */
export interface Service {
  /** Releases what it holds (closes a listener, unsubscribes); must not throw for a second call. */
  stop(): void | Promise<void>;
  describe?(): { state: string; info?: Record<string, unknown>; children?: TreeNode[] };
}

/** What a service is given when it starts: the way to end itself with an error. */
export interface ServiceControl {
  /** The service failed: it is stopped, then its supervisor sees an exit with this error. */
  fail(error: unknown): void;
}

export interface ServiceChildOptions {
  id: string;
  restart?: RestartType;
  shutdown?: Shutdown;
  start(control: ServiceControl): Service | Promise<Service>;
}

/**
 * A supervised child around a service, so that its failure reaches its supervisor: the
 * service ends itself through `control.fail`, and a restart starts it anew. The service
 * is stopped before its exit is signalled, so its successor never meets it still holding
 * a port or a socket file.
 */
export function serviceChild(options: ServiceChildOptions): ChildSpec {
  return {
    id: options.id,
    type: 'worker',
    ...(options.restart ? { restart: options.restart } : {}),
    ...(options.shutdown !== undefined ? { shutdown: options.shutdown } : {}),
    start: async () => {
      const exit = new ExitSignal();
      let service: Service | undefined;
      let failure: unknown;
      const fail = (error: unknown): void => {
        if (exit.reason || failure !== undefined) return;
        failure = error ?? new Error('the service failed');
        // A failure during start is the start's own (its promise rejects below).
        if (!service) return;
        void Promise.resolve()
          .then(() => service!.stop())
          .catch(() => {})
          .finally(() => exit.fire({ kind: 'error', error: failure }));
      };
      service = await options.start({ fail });
      if (failure !== undefined) {
        await Promise.resolve(service.stop()).catch(() => {});
        throw failure;
      }
      const running = service;
      const handle: ChildHandle = {
        async stop() {
          await running.stop();
          exit.fire({ kind: 'shutdown' });
        },
        kill() {
          void Promise.resolve()
            .then(() => running.stop())
            .catch(() => {});
          exit.fire({ kind: 'killed' });
        },
        onExit: (listener) => exit.listen(listener),
        describe: () => {
          const described = running.describe?.() ?? { state: 'running' };
          return { children: [], ...described, state: failure !== undefined ? 'failed' : described.state };
        },
        fault: (error) => fail(error),
      };
      return handle;
    },
  };
}
