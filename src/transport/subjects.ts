import { BosunError } from '../errors.ts';

const NOT_IN_A_TOKEN = /[.*>\s]/;

/**
 * A node name is one subject token: `<node>.>` must address exactly that node, so it can
 * hold no dot, no wildcard and no whitespace.
 */
export function assertNodeName(node: string): void {
  if (node.length === 0 || NOT_IN_A_TOKEN.test(node)) {
    throw new BosunError(
      'BOSUN_BAD_CONFIG',
      `node name ${JSON.stringify(node)} must be one subject token: not empty, no '.', '*', '>' or whitespace`,
    );
  }
}

/**
 * The node a subject is addressed to, its first token; undefined when `<node>.>` cannot
 * match it (no dot, or nothing after the first token).
 */
export function addresseeOf(subject: string): string | undefined {
  const dot = subject.indexOf('.');
  if (dot <= 0 || dot === subject.length - 1) return undefined;
  return subject.slice(0, dot);
}

const DOT = 0x2e;
const STAR = 0x2a;
const GREATER = 0x3e;
const SPACE = 0x20;
const DEL = 0x7f;

/**
 * Whether a frame may be published to `subject`: tokens not empty, no wildcard token, no
 * whitespace or control character. nats-server does not reject the others: it cuts a
 * subject at a space and takes the rest for a reply subject (misrouting the frame), drops
 * the connection on a CR/LF, and delivers a literal `*` or `>` to wildcard subscribers.
 * A loop over char codes, so the check allocates nothing on the publish path.
 */
export function isPublishSubject(subject: string): boolean {
  const length = subject.length;
  let tokenStart = 0;
  for (let i = 0; i <= length; i++) {
    const c = i < length ? subject.charCodeAt(i) : DOT;
    if (c === DOT) {
      const tokenLength = i - tokenStart;
      if (tokenLength === 0) return false;
      if (tokenLength === 1) {
        const only = subject.charCodeAt(tokenStart);
        if (only === STAR || only === GREATER) return false;
      }
      tokenStart = i + 1;
    } else if (c <= SPACE || c === DEL) {
      return false;
    }
  }
  return true;
}
