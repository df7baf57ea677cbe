// A card from a server, read for showing: the normalized contact, or why it
// could not be read. Never throws: a card the codec cannot read is still the
// server's card, and its raw vCard goes out beside the reason.
import type { Contact } from './contact.ts';
import { toContact } from './normalize.ts';
import { parseVCard } from './parse.ts';

export function readContact(vcard: string): { contact?: Contact; parseError?: string } {
  try {
    return { contact: toContact(parseVCard(vcard)) };
  } catch (error) {
    // VCardError is the expected case; anything else is a codec bug, which must not hide the card either.
    return { parseError: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}
