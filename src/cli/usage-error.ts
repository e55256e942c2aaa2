/** A usage error found after commander's own parsing (bad JSON, say): exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  /** Printed like an error code: `error: ERR_TOKEN_FILE: …`. */
  constructor(
    message: string,
    readonly code = 'ERR_USAGE',
  ) {
    super(message);
  }
}
