import { Supervisor } from '../../../supervisors/Supervisor.ts';
import type { ChildSpec, ErrorSink } from '../../../supervisors/types.ts';
import type { Clock } from '../../clock.ts';

export interface GroupOptions {
  id: string;
  children: ChildSpec[];
  clock: Clock;
  errors: ErrorSink;
}

/**
 * A one_for_one supervisor over independent children (the inputs, the services): one
 * failing restarts only itself. Keeps its running supervisor so the node can end some of
 * its children early (the inputs, before the drain).
 */
export class Group {
  #supervisor: Supervisor | undefined;

  constructor(private readonly options: GroupOptions) {}

  spec(): ChildSpec {
    const { id, children, clock, errors } = this.options;
    return {
      id,
      type: 'supervisor',
      start: async () => {
        this.#supervisor = await Supervisor.start({ id, strategy: 'one_for_one', intensity: 5, periodSeconds: 10, clock, errors, children });
        return this.#supervisor;
      },
    };
  }

  /** Stops the named children, last started first; a child already stopped is skipped. */
  async stopChildren(ids: readonly string[]): Promise<void> {
    const supervisor = this.#supervisor;
    if (!supervisor || supervisor.status !== 'running') return;
    for (const id of [...ids].reverse()) await supervisor.terminateChild(id).catch(() => {});
  }
}
