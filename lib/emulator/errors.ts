// One base class for the emulator; named subclasses carry `cause`. These are
// thrown by the programmatic API (seed, createCard, ...) and used internally
// to turn bad requests into clear 4xx answers instead of crashes.

import { BridgeError } from '../core/errors.ts';

export class EmulatorError extends BridgeError {}

/** An email that was never added with addAccount. */
export class UnknownAccountError extends EmulatorError {}

/** A contact id that does not exist (never created, or deleted). */
export class UnknownCardError extends EmulatorError {}

/** A vCard the emulator (like Google) refuses to store. */
export class MalformedVcardError extends EmulatorError {}

/** A request body that is not well-formed or not the XML the method expects. */
export class MalformedXmlError extends EmulatorError {}

/** The HTTP server could not start (port taken, ...). */
export class EmulatorStartError extends EmulatorError {}

/** A create under a name that is taken. */
export class CardExistsError extends EmulatorError {}

/** A card Google parses but refuses to store (400 INVALID_ARGUMENT); the message is Google's catch-all, `detail` says why. */
export class InvalidArgumentError extends MalformedVcardError {
  readonly detail: string;
  constructor(message: string, options: { detail: string; cause?: unknown }) {
    super(message, options);
    this.detail = options.detail;
  }
}
