/**
 * Message security: ed25519 keys per node, signatures over the whole envelope, replay
 * and expiry checks, central-signed key sets and ACLs. `createSecurity` is the entry point.
 */
export { createSecurity, type Security, type SecurityOptions, type SecureNode } from './createSecurity.ts';
export { SecurityGuard, ADMIN_METHODS, UPDATE_METHODS, CENTRAL_INBOX_METHODS, KEY_PRESENTING_METHODS } from './Guard.ts';
export { CentralAuthority, type KeyListing } from './CentralAuthority.ts';
export { NodeTrust } from './NodeTrust.ts';
export { Ledger, type Delivery } from './Ledger.ts';
export { ENVELOPE_VERSION, SIGNED_FIELDS, envelopeBytes, canonicalJson } from './canonical.ts';
export { loadOrCreateKeys, readPublicKeyFile, parsePublicKey, fingerprintOf, verifySignature, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, type NodeKeyPair } from './keys.ts';
export {
  COMMAND_METHODS,
  matchesPattern,
  methodAllowed,
  commandAllowed,
  nodeAclOf,
  parseAclEdit,
  applyAclEdit,
  validateAclConfig,
  type AclConfig,
  type AclEdit,
  type NodeAcl,
  type CommandPattern,
} from './acl.ts';
export { WS_HELLO_SIGNATURE_VERSION, helloClaimBytes, signHelloClaim, judgeHelloClaim } from './wsHello.ts';
export { natsServerConfig, type NatsConfigOptions, type NatsIdentity } from './natsConfig.ts';
