import { createActor } from 'xstate';
import { connectionMachine } from '../../../actors/connectionMachine.ts';
import { Supervisor } from '../../../supervisors/Supervisor.ts';
import type { ChildSpec, ErrorSink } from '../../../supervisors/types.ts';
import type { Clock } from '../../clock.ts';
import type { Transport, TransportStatus } from '../../transport/types.ts';
import { serverInfo } from '../central.ts';
import { serviceChild } from './serviceChild.ts';

export interface TransportChildDeps {
  transport: Transport;
  clock: Clock;
  errors: ErrorSink;
  /** The link is (back) up: every stream resends its window now, not at its ACK timeout. */
  connected(): void;
}

const EVENT_OF: Record<TransportStatus, 'CONNECTED' | 'DISCONNECTED' | 'CLOSE' | undefined> = {
  connecting: undefined,
  connected: 'CONNECTED',
  disconnected: 'DISCONNECTED',
  closed: 'CLOSE',
};

/**
 * The transport subtree: the connection actor of the node's link (NATS, ws or the
 * in-process bus). The connection machine is fed the transport's status and owns what
 * follows from it: its `connected` action is what makes every subject resend. A restart
 * makes a new actor from the link's current status.
 */
export function transportChild(deps: TransportChildDeps): ChildSpec {
  const { transport } = deps;
  const connection = serviceChild({
    id: `connection:${transport.kind}`,
    start: (control) => {
      const actor = createActor(connectionMachine.provide({ actions: { connected: () => deps.connected() } }));
      actor.subscribe({ error: (error) => control.fail(error) });
      actor.start();
      const feed = (status: TransportStatus): void => {
        const type = EVENT_OF[status];
        if (type) actor.send({ type });
      };
      // What the link is now, then every change: the machine never misses a state.
      feed(transport.status);
      const unsubscribe = transport.onStatus(feed);
      return {
        stop: () => {
          unsubscribe();
          actor.stop();
        },
        describe: () => {
          const snapshot = actor.getSnapshot();
          return { state: String(snapshot.value), info: { ...snapshot.context, status: transport.status, ...serverInfo(transport.server) } };
        },
      };
    },
  });
  return {
    id: 'transport',
    type: 'supervisor',
    start: () => Supervisor.start({ id: 'transport', clock: deps.clock, errors: deps.errors, children: [connection] }),
  };
}
