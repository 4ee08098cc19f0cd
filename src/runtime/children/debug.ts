import type { Logger } from 'pino';
import type { ChildSpec } from '../../../supervisors/types.ts';
import { startDebugSocket, type InspectableNode } from '../../inputs/debugSocket.ts';
import { serviceChild } from './serviceChild.ts';

/** The debug socket, `<dataDir>/debug.sock`, as the last child of the tree. */
export function debugChild(node: InspectableNode, options: { dataDir: string; log: Logger; faults: boolean }): { spec: ChildSpec; socketPath(): string | undefined } {
  let socketPath: string | undefined;
  const spec = serviceChild({
    id: 'debug',
    start: async () => {
      const socket = await startDebugSocket(node, options);
      socketPath = socket.socketPath;
      return {
        stop: () => socket.close(),
        describe: () => ({ state: 'listening', info: { socket: socket.socketPath, faults: options.faults } }),
      };
    },
  });
  return { spec, socketPath: () => socketPath };
}
