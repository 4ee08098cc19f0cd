/** Account numbers: leading zeros do not make another account; other names compare exactly. */
import { describe, expect, it } from 'vitest';
import { canonicalAccount, sameAccount } from '../src/gateway/account.ts';

describe('account numbers', () => {
  it.each([
    ['01', '0000001'],
    ['0001', '01'],
    ['1', '0000001'],
    ['0', '0000'],
    ['540155', '0540155'],
  ])('takes %s and %s for one account', (a, b) => {
    expect(sameAccount(a, b)).toBe(true);
  });

  it.each([
    ['01', '02'],
    ['10', '1'],
    ['acct-01', 'acct-1'],
    ['Acct', 'acct'],
    [' 01', '01'],
  ])('takes %s and %s for two accounts', (a, b) => {
    expect(sameAccount(a, b)).toBe(false);
  });

  it('indexes digit strings without leading zeros and anything else as given', () => {
    expect(canonicalAccount('0000001')).toBe('1');
    expect(canonicalAccount('000')).toBe('0');
    expect(canonicalAccount('org-007')).toBe('org-007');
  });
});
