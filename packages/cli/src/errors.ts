/** An error the CLI reports as one line on stderr with a documented exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    /** 2: bad input or usage (nothing was sent); 1: the operation failed (unreachable, timeout, refused). */
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

export const usageError = (message: string): CliError => new CliError(message, 2);
