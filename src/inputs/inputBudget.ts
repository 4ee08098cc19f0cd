import { BosunError } from '../errors.ts';
import { formatBytes } from './formatBytes.ts';
import { MemoryReturn } from './returnMemory.ts';

/** Default memory every input together may hold in half-read messages. */
export const DEFAULT_INPUT_BUDGET_BYTES = 256 * 1024 * 1024;
/** Default connections one input serves at once. */
export const DEFAULT_MAX_CONNECTIONS = 256;
/** Default time a half-finished message may wait for its next byte. */
export const DEFAULT_INPUT_IDLE_MS = 30_000;

/** The limits every listening input shares. */
export interface InputLimits {
  budget: InputBudget;
  /** Connections one input serves at once; one more is told so and closed. */
  maxConnections: number;
  /** How long a half-finished message (or a missing token line) may wait for more bytes. */
  idleMs: number;
}

/** What one client holds of the budget; released when it goes. */
export interface BudgetLease {
  /** Sets what this client holds now; false (and nothing changed) when that is over the budget. */
  resize(bytes: number): boolean;
  release(): void;
}

/**
 * The memory all inputs together may hold in messages they have read but not finished
 * (a value without its closing bracket, a request body not yet complete). Each value
 * already has its own cap; without a total, many clients each sending a little under it
 * add up to gigabytes. A client that would take the total over the budget is refused
 * and closed, which gives its bytes back.
 */
export class InputBudget {
  #used = 0;
  readonly #memoryReturn = new MemoryReturn();

  constructor(readonly limitBytes: number = DEFAULT_INPUT_BUDGET_BYTES) {}

  /** Bytes held now by every client together. */
  get usedBytes(): number {
    return this.#used;
  }

  lease(): BudgetLease {
    let held = 0;
    return {
      resize: (bytes) => {
        if (bytes > held && this.#used - held + bytes > this.limitBytes) return false;
        this.#used += bytes - held;
        held = bytes;
        this.#memoryReturn.held(this.#used);
        return true;
      },
      release: () => {
        this.#used -= held;
        held = 0;
        this.#memoryReturn.held(this.#used);
      },
    };
  }

  /** The refusal a client past the budget gets before it is closed. */
  exceeded(): BosunError {
    return new BosunError(
      'BOSUN_INPUT_BUDGET',
      `the daemon's inputs hold ${formatBytes(this.limitBytes)} of unfinished messages, all they may (input-memory-budget); finish or send smaller messages and try again`,
    );
  }
}

export function tooManyConnections(input: string, max: number): BosunError {
  return new BosunError('BOSUN_TOO_MANY_CONNECTIONS', `the ${input} input serves at most ${max} connections at once (input-max-connections); try again later`);
}

export function idleInput(idleMs: number): BosunError {
  return new BosunError('BOSUN_INPUT_IDLE', `no byte of the unfinished message came for ${idleMs / 1000} s (input-idle-timeout); the connection is closed`);
}

/** Limits for inputs started without settings: the defaults, with a budget of their own. */
export function defaultInputLimits(): InputLimits {
  return { budget: new InputBudget(), maxConnections: DEFAULT_MAX_CONNECTIONS, idleMs: DEFAULT_INPUT_IDLE_MS };
}
