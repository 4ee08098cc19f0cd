/**
 * Which account each receptor node id belongs to. The registry keys connections by
 * (account, node id), but jobs, logs and operators name nodes by id, and the account
 * comes from a header the gateway takes on trust: without a binding, any caller that
 * reaches the gateway could connect under someone else's node id in an account of its
 * choosing. A node id is bound to the account it is configured for
 * (`RECEPTOR_CONTROLLER_NODE_ACCOUNTS`), else to the account it first connected with,
 * persisted in the node's store; a connection under that id from another account is
 * refused.
 */
import { BosunError } from '../errors.ts';
import { regKey } from '../store/keys.ts';
import type { Store } from '../store/types.ts';
import { canonicalAccount } from './account.ts';
import { keySegment } from './registry.ts';

interface Owner {
  account: string;
  since: number;
}

const OWNERS = 'receptor!owner';

export class NodeOwners {
  readonly #known = new Map<string, Owner>();
  /** Claims run one at a time, so two accounts racing for a new id cannot both win it. */
  #claims: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    /** Node id → account, from the configuration; these never change. */
    private readonly configured: ReadonlyMap<string, string>,
  ) {}

  /**
   * Binds `nodeId` to `account` when it has no owner yet; refuses it with
   * `BOSUN_GATEWAY_NODE_TAKEN` when another account owns it.
   */
  claim(account: string, nodeId: string, now: number): Promise<void> {
    const claimed = this.#claims.then(() => this.#claim(account, nodeId, now));
    this.#claims = claimed.catch(() => {});
    return claimed;
  }

  async #claim(account: string, nodeId: string, now: number): Promise<void> {
    const fixed = this.configured.get(nodeId);
    const owner = fixed !== undefined ? { account: fixed, since: 0 } : await this.#owner(nodeId);
    if (owner) {
      if (canonicalAccount(owner.account) === canonicalAccount(account)) return;
      throw new BosunError('BOSUN_GATEWAY_NODE_TAKEN', `node id ${nodeId} belongs to another account; a node connects only in its own`);
    }
    const claimed = { account, since: now };
    this.#known.set(nodeId, claimed);
    await this.store.write([{ type: 'put', key: ownerKey(nodeId), value: claimed }]);
  }

  async #owner(nodeId: string): Promise<Owner | undefined> {
    const known = this.#known.get(nodeId);
    if (known) return known;
    const stored = await this.store.get<Owner>(ownerKey(nodeId));
    if (stored) this.#known.set(nodeId, stored);
    return stored;
  }
}

function ownerKey(nodeId: string): string {
  return regKey(`${OWNERS}!${keySegment(nodeId)}`);
}
