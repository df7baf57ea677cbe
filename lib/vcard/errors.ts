// One base error for the vCard codec; callers catch `VCardError` and never
// see a TypeError or RangeError escape from bad input.

export class VCardError extends Error {
  override name = 'VCardError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The text is not a vCard we can read. `line` is 1-based, when known. */
export class VCardParseError extends VCardError {
  override name = 'VCardParseError';
  readonly line: number | undefined;

  constructor(message: string, options?: { line?: number; cause?: unknown }) {
    super(options?.line === undefined ? message : `line ${options.line}: ${message}`, options);
    this.line = options?.line;
  }
}

/** The input is larger than the configured limit (a parse error: nothing was read). */
export class VCardTooLargeError extends VCardParseError {
  override name = 'VCardTooLargeError';
  readonly limit: number;

  constructor(message: string, options: { limit: number; line?: number }) {
    super(message, options);
    this.limit = options.limit;
  }
}

/** A `Contact` or patch value cannot be written as vCard (e.g. a birthday on 2024-02-31). */
export class VCardBuildError extends VCardError {
  override name = 'VCardBuildError';
  readonly field: string;

  constructor(message: string, options: { field: string; cause?: unknown }) {
    super(`${options.field}: ${message}`, options);
    this.field = options.field;
  }
}
