/**
 * Account numbers are digit strings whose leading zeros carry no meaning: "01", "0001"
 * and "0000001" name one account (3scale identities pad to seven digits, internal
 * services often do not). Everything that compares or indexes accounts goes through
 * here; what a node's identity spelled is kept for display.
 */

const DIGITS = /^\d+$/;

/** The form accounts are compared and indexed by: digits without leading zeros, anything else as is. */
export function canonicalAccount(account: string): string {
  if (!DIGITS.test(account)) return account;
  const trimmed = account.replace(/^0+/, '');
  return trimmed === '' ? '0' : trimmed;
}

/** Whether two spellings name the same account. */
export function sameAccount(a: string, b: string): boolean {
  return canonicalAccount(a) === canonicalAccount(b);
}
