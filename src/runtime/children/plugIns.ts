import { Supervisor } from '../../../supervisors/Supervisor.ts';
import type { ChildSpec, ErrorSink } from '../../../supervisors/types.ts';
import type { Clock } from '../../clock.ts';
import type { NodePlugIns } from '../nodeTypes.ts';

/**
 * The subtrees a host plugs into a node's root: `inputs` and `services` (one_for_one
 * supervisors) and `debug`. Started after the node's own children, so that rest_for_one
 * restarts them whenever the store, the transport or a delivery side restarts.
 */
export class PlugIns {
  #inputs: Supervisor | undefined;
  #closedLast: string[] = [];

  constructor(private readonly deps: { clock: Clock; errors: ErrorSink }) {}

  /** Starts each subtree under `root`, in the order the tree shows them. */
  async attach(root: Supervisor, plugIns: NodePlugIns): Promise<void> {
    const closedLast = plugIns.inputsClosedLast ?? [];
    this.#closedLast = closedLast.map((c) => c.id);
    // Closed last: started first, as a supervisor stops its children in reverse order.
    const inputs = this.#group('inputs', [...closedLast, ...(plugIns.inputs ?? [])], (s) => (this.#inputs = s));
    await root.startChild(inputs);
    await root.startChild(this.#group('services', plugIns.services ?? []));
    if (plugIns.debug) await root.startChild(plugIns.debug);
  }

  /**
   * Before a drain: the services end, then every input except those closed last, so
   * nothing new arrives while running handlers finish.
   */
  async closeIntake(root: Supervisor | undefined): Promise<void> {
    if (!root || root.status !== 'running') return;
    await root.terminateChild('services').catch(() => {});
    const inputs = this.#inputs;
    if (!inputs || inputs.status !== 'running') return;
    const ids = (await inputs.whichChildren()).map((c) => c.id).filter((id) => !this.#closedLast.includes(id));
    for (const id of ids.reverse()) await inputs.terminateChild(id).catch(() => {});
  }

  #group(id: string, children: ChildSpec[], started?: (supervisor: Supervisor) => void): ChildSpec {
    const { clock, errors } = this.deps;
    return {
      id,
      type: 'supervisor',
      start: async () => {
        const supervisor = await Supervisor.start({ id, strategy: 'one_for_one', intensity: 5, periodSeconds: 10, clock, errors, children });
        started?.(supervisor);
        return supervisor;
      },
    };
  }
}
