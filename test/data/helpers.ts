import { expect } from 'chai';
import { UsageError } from '../../src/errors.js';

/** Awaits `p`, which must reject with a UsageError; returns it for message checks. */
export async function usageError(p: Promise<unknown>): Promise<UsageError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error('expected a UsageError');
}

