import type { ChildSpec } from '../../../supervisors/types.ts';
import type { Security } from '../../security/createSecurity.ts';
import { serviceChild } from './serviceChild.ts';

/** The key and ACL sync with central (`--secure`) as a service: attached while it runs. */
export function keySyncChild(security: Pick<Security, 'attach'>, node: Parameters<Security['attach']>[0]): ChildSpec {
  return serviceChild({
    id: 'keySync',
    start: () => {
      const detach = security.attach(node);
      return { stop: () => detach(), describe: () => ({ state: 'attached' }) };
    },
  });
}
