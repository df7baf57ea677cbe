// The base error of the local stack and of the data folder's lock (lib/local,
// and lib/cli, which shares the folder).
export class LocalStackError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}
