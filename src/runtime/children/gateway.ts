import type { Logger } from 'pino';
import type { ErrorKernel } from '../../../supervisors/errorKernel.ts';
import type { ChildSpec } from '../../../supervisors/types.ts';
import { startReceptorGateway, type ReceptorGatewayOptions } from '../../gateway/index.ts';
import type { Store } from '../../store/types.ts';
import type { WsGateway } from '../../transport/WsGateway.ts';
import { serviceChild } from './serviceChild.ts';

export interface GatewayChildOptions {
  listen: string;
  store: Store;
  log: Logger;
  errors: ErrorKernel;
  env: NodeJS.ProcessEnv;
  nodeNats?: ReceptorGatewayOptions['nodeNats'];
  /** bosun's own websocket endpoint, mounted at `/bosun` on the gateway's server. */
  wsGateway: WsGateway;
}

/**
 * The receptor gateway as a service: its HTTP server, its session supervisor (shown
 * below it in the tree) and its NATS membership. The gateway fails when its session
 * supervisor gives up; a restart listens again on the port the first start got.
 */
export function gatewayChild(options: GatewayChildOptions): { spec: ChildSpec; address(): string | undefined } {
  let listen = options.listen;
  let address: string | undefined;
  const spec = serviceChild({
    id: 'gateway',
    start: async (control) => {
      const receptor = await startReceptorGateway({
        listen,
        store: options.store,
        logger: options.log,
        errors: options.errors,
        env: options.env,
        ...(options.nodeNats ? { nodeNats: options.nodeNats } : {}),
      });
      receptor.addUpgradeRoute('/bosun', options.wsGateway.handleUpgrade);
      address = `${receptor.host}:${receptor.port}`;
      listen = address;
      let stopping = false;
      receptor.gateway.supervisor.onExit((reason) => {
        if (!stopping) control.fail(reason.kind === 'error' ? reason.error : new Error(`the gateway's session supervisor ended (${reason.kind})`));
      });
      return {
        stop: async () => {
          stopping = true;
          await receptor.close();
        },
        describe: () => {
          const sessions = receptor.gateway.supervisor.tree();
          return { state: 'listening', info: { address }, children: [sessions] };
        },
      };
    },
  });
  return { spec, address: () => address };
}
