// Errors of the CardDAV label conventions (group vCards, CATEGORIES); the base
// (name and `cause`) is the kernel's.
import { BridgeError } from '../core/errors.ts';

export class LabelError extends BridgeError {}

/** A group vCard that cannot stand for a label (no name at all, not a group). */
export class MalformedGroupCard extends LabelError {
  readonly href: string | undefined;
  constructor(message: string, options: { href?: string; cause?: unknown } = {}) {
    super(options.href === undefined ? message : `${options.href}: ${message}`, options);
    this.href = options.href;
  }
}

/** A label name that cannot be written (blank, or a line break in it). */
export class InvalidLabelName extends LabelError {
  readonly labelName: string;
  constructor(name: string, reason: string) {
    super(`label ${JSON.stringify(name.slice(0, 80))}: ${reason}`);
    this.labelName = name;
  }
}
