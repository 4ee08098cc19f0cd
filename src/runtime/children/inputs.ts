import type { Logger } from 'pino';
import type { ChildSpec } from '../../../supervisors/types.ts';
import { startFileInput } from '../../inputs/fileInput.ts';
import { startHttpInput, type HttpInput, type HttpInputOptions } from '../../inputs/httpInput.ts';
import type { AcceptingNode } from '../../inputs/messageInput.ts';
import { startSocketInput, type SocketInput, type SocketInputOptions } from '../../inputs/socketInput.ts';
import { acceptStartupFolder, type StartupReport } from '../../inputs/startupFolder.ts';
import { formatAddress } from '../../inputs/tcpListen.ts';
import { startTcpInput, type TcpInput, type TcpInputOptions } from '../../inputs/tcpInput.ts';
import type { BosunNode } from '../Node.ts';
import { serviceChild } from './serviceChild.ts';

/** Anything an input opened that it closes on stop. */
interface Closable {
  close(): Promise<void>;
}

/**
 * An input as a child: a restart opens it again. `opened` is one the host opened before
 * the node started (so a port in use is found before the store is touched); the child's
 * first start adopts it.
 */
function inputChild<T extends Closable>(id: string, open: () => Promise<T>, opened: T | undefined, info: (input: T) => Record<string, unknown>): ChildSpec {
  let adopt = opened;
  return serviceChild({
    id,
    start: async () => {
      const input = adopt ?? (await open());
      adopt = undefined;
      let closed = false;
      return {
        stop: async () => {
          if (closed) return;
          closed = true;
          await input.close();
        },
        describe: () => ({ state: closed ? 'closed' : 'listening', info: info(input) }),
      };
    },
  });
}

/** The unix socket input, `<dataDir>/bosun.sock`. */
export function socketInputChild(node: AcceptingNode, options: SocketInputOptions, opened?: SocketInput): ChildSpec {
  return inputChild('socket', () => startSocketInput(node, options), opened, (s) => ({ socket: s.socketPath }));
}

/**
 * The TCP input. A restart listens on the port the first start got, so clients find it
 * where the daemon said it was, also when the setting asked for port 0.
 */
export function tcpInputChild(node: AcceptingNode, options: TcpInputOptions, opened?: TcpInput): ChildSpec {
  let listen = opened?.address ?? options.listen;
  return inputChild(
    'tcp',
    async () => {
      const input = await startTcpInput(node, { ...options, listen });
      listen = input.address;
      return input;
    },
    opened,
    (t) => ({ address: formatAddress(t.address) }),
  );
}

/** The HTTP input; restarted on the port it first got, as the TCP input. */
export function httpInputChild(node: AcceptingNode, options: HttpInputOptions, opened?: HttpInput): ChildSpec {
  let listen = opened?.address ?? options.listen;
  return inputChild(
    'http',
    async () => {
      const input = await startHttpInput(node, { ...options, listen });
      listen = input.address;
      return input;
    },
    opened,
    (h) => ({ address: formatAddress(h.address) }),
  );
}

/** The watched input file; a restart goes on from the progress the file input recorded. */
export function inputFileChild(node: BosunNode, options: { file: string; pollMs: number; log: Logger }): ChildSpec {
  return inputChild('inputFile', () => startFileInput(node, options), undefined, (f) => ({ file: f.file }));
}

/**
 * The startup folder: its messages are accepted once per daemon start, by this child's
 * first start. A restart keeps the report and does not send them again.
 */
export function startupFolderChild(node: BosunNode, options: { folder: string; log: Logger }): { spec: ChildSpec; report(): StartupReport | undefined } {
  let report: StartupReport | undefined;
  const spec = serviceChild({
    id: 'startup',
    start: async () => {
      report ??= await acceptStartupFolder(node, options.folder, { log: options.log });
      return { stop: () => {}, describe: () => ({ state: 'done', info: { ...report, folder: options.folder } }) };
    },
  });
  return { spec, report: () => report };
}
