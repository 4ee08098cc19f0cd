/**
 * Every error bosun reports to a user carries a stable `code`, so scripts can match on it
 * and operators can search for it. Messages are written for people; no stack traces for
 * bad input.
 */
export type ErrorCode =
  | 'BOSUN_BAD_JSON'
  | 'BOSUN_BAD_ENCODING'
  | 'BOSUN_BAD_MESSAGE'
  | 'BOSUN_MISSING_FIELD'
  | 'BOSUN_UNKNOWN_METHOD'
  | 'BOSUN_MESSAGE_TOO_LARGE'
  | 'BOSUN_PATH_OUTSIDE_ROOT'
  | 'BOSUN_STORE_CLOSED'
  | 'BOSUN_STORE_WRITE_FAILED'
  | 'BOSUN_STORE_LOCKED'
  | 'BOSUN_STORE_CORRUPT'
  | 'BOSUN_NODE_STOPPING'
  | 'BOSUN_METHOD_TIMEOUT'
  | 'BOSUN_METHOD_FAILED'
  | 'BOSUN_INTERRUPTED'
  | 'BOSUN_DEAD_LETTER'
  | 'BOSUN_BAD_CONFIG'
  | 'BOSUN_TRANSPORT'
  | 'BOSUN_SUP_MAX_INTENSITY'
  | 'BOSUN_SUP_BAD_SPEC'
  | 'BOSUN_DAEMON_UNREACHABLE'
  | 'BOSUN_UNKNOWN_COMMAND'
  | 'BOSUN_USAGE'
  | 'BOSUN_NOT_FOUND'
  | 'BOSUN_METHOD_NOT_ALLOWED'
  | 'BOSUN_CHECKSUM_MISMATCH'
  | 'BOSUN_TOO_LARGE'
  | 'BOSUN_NOT_SUPPORTED'
  | 'BOSUN_UNKNOWN_KEY'
  | 'BOSUN_BAD_SIGNATURE'
  | 'BOSUN_EXPIRED'
  | 'BOSUN_REPLAYED'
  | 'BOSUN_MISDIRECTED'
  | 'BOSUN_NOT_ALLOWED'
  | 'BOSUN_COMMAND_NOT_ALLOWED'
  | 'BOSUN_BAD_KEY_FILE'
  | 'BOSUN_GATEWAY_PROTOCOL'
  | 'BOSUN_GATEWAY_NOT_CONNECTED'
  | 'BOSUN_GATEWAY_UNAUTHENTICATED'
  | 'BOSUN_GATEWAY_FORBIDDEN'
  | 'BOSUN_GATEWAY_TIMEOUT'
  | 'BOSUN_GATEWAY_SEND_FAILED'
  | 'BOSUN_GATEWAY_DUPLICATE'
  | 'BOSUN_UNAUTHENTICATED'
  | 'BOSUN_UNSUPPORTED_MEDIA_TYPE'
  | 'BOSUN_FORBIDDEN_ORIGIN'
  | 'BOSUN_FORBIDDEN_HOST'
  | 'BOSUN_INPUT_BUDGET'
  | 'BOSUN_TOO_MANY_CONNECTIONS'
  | 'BOSUN_INPUT_IDLE'
  | 'BOSUN_UNSAFE_DATA_DIR'
  | 'BOSUN_GATEWAY_NODE_TAKEN';

export class BosunError extends Error {
  override readonly name = 'BosunError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Normalises anything thrown into a `{code, message}` pair fit for a user. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof BosunError) return err.toJSON();
  if (err instanceof Error) return { code: (err as { code?: string }).code ?? 'BOSUN_INTERNAL', message: err.message };
  return { code: 'BOSUN_INTERNAL', message: String(err) };
}
