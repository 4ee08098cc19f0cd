import type { ChildSpec } from '../../../supervisors/types.ts';
import type { Store } from '../../store/types.ts';
import { serviceChild, type ServiceControl } from './serviceChild.ts';

/**
 * The store as the tree's first child. The children after it (rest_for_one) read their
 * state from it when they start, so a failed store restarts them all.
 *
 * The child fails when the node finds its store closed underneath it (`failed`); its
 * restart opens the store again. The database itself is closed by the node, last, when
 * it stops: stopping this child only lets go of the watch.
 */
export class StoreChild {
  #control: ServiceControl | undefined;

  constructor(private readonly store: Store) {}

  spec(): ChildSpec {
    return serviceChild({
      id: 'store',
      start: async (control) => {
        if (this.store.status !== 'open') await this.store.open();
        this.#control = control;
        return {
          stop: () => {
            if (this.#control === control) this.#control = undefined;
          },
          describe: () => ({
            state: this.store.status,
            info: { ...((this.store as { commitStats?: object }).commitStats ?? {}) },
          }),
        };
      },
    });
  }

  /** The store failed (it is closed while the node runs): the child ends with `error`. */
  failed(error: unknown): void {
    this.#control?.fail(error);
  }
}
