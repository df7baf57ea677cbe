// The labels path's errors: one base, subclasses with `cause`.
import { BridgeError } from '../core/errors.ts';

export class LabelsError extends BridgeError {}

/** The server answered something the labels adapter cannot read (a malformed body, an unknown shape). */
export class LabelsProtocolError extends LabelsError {}

/** The server refused for lack of permission: for Google, the grant has no contacts scope (reconnect to grant it). */
export class LabelsForbidden extends LabelsError {}

/** Too many requests (Google's 429 RESOURCE_EXHAUSTED): retry later. */
export class LabelsQuotaExceeded extends LabelsError {
  /** Seconds the server asked to wait, when it said. */
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, options);
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The sync token is too old (Google: EXPIRED_SYNC_TOKEN after 7 days): read everything again. */
export class LabelsTokenExpired extends LabelsError {}

/** The server failed or could not be reached; retryable. */
export class LabelsUnreachable extends LabelsError {}

/** A label named in a write that cannot be written (a system group, a name the server refuses). */
export class LabelNotWritable extends LabelsError {}

/** A label of that name exists already (Google: 409 ALREADY_EXISTS on contactGroups.create). */
export class LabelExists extends LabelsError {}
/** A group vCard that cannot stand for a label (not a group, or no name at all). */
export class MalformedGroupCard extends LabelsError {
  readonly href: string | undefined;
  constructor(message: string, options: { href?: string; cause?: unknown } = {}) {
    super(options.href === undefined ? message : `${options.href}: ${message}`, options);
    this.href = options.href;
  }
}

/** A label name that cannot be written to a card (blank, or a control character in it). */
export class InvalidLabelName extends LabelsError {
  readonly labelName: string;
  constructor(name: string, reason: string) {
    super(`label ${JSON.stringify(name.slice(0, 80))}: ${reason}`);
    this.labelName = name;
  }
}
