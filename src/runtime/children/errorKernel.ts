import type { ErrorKernel } from '../../../supervisors/errorKernel.ts';
import type { ChildSpec } from '../../../supervisors/types.ts';
import type { CentralLink } from '../central.ts';
import { serviceChild } from './serviceChild.ts';

/**
 * The error kernel's child: while it runs, reports go on to central. The kernel object
 * itself is the part that must not fail (it logs and counts every report, whatever
 * happens); what this child owns is the forwarding. While it is down, reports wait and go
 * once it is back, its own crash report first among them.
 */
export function errorKernelChild(kernel: ErrorKernel, central: CentralLink): ChildSpec {
  return serviceChild({
    id: 'errorKernel',
    start: () => {
      central.open();
      return {
        stop: () => central.close(),
        describe: () => ({
          state: central.isOpen ? 'forwarding' : 'holding',
          info: { ...kernel.counts(), queue: central.waiting, forwardFailures: kernel.forwardFailures },
        }),
      };
    },
  });
}
