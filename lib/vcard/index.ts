// carddav-bridge vCard codec: lossless line model, normalized contact, patching.
// Promises: serializeVCard(parseVCard(text)) === text for every text that
// parses (line ends, folding, blank lines kept); for bytes, the same for the
// text decodeVCardBytes gives (the bytes themselves when they are UTF-8).
// Bytes from a server or a client go in as bytes (parseVCard(Uint8Array)),
// so CHARSET, BOMs and folds splitting a UTF-8 character are handled.
export type { Birthday, Contact, ContactAddress, ContactDate, ContactIm, ContactName, ContactPatch, ContactPhoto, Labeled } from './contact.ts';
export { VCardBuildError, VCardError, VCardParseError, VCardTooLargeError } from './errors.ts';
export type { VCard, VCardParam, VCardProperty } from './model.ts';
export { isNamed, rawLines, withProperties } from './model.ts';
export { parseVCard, parseVCards } from './parse.ts';
export { decodeVCardBytes } from './decode.ts';
export type { ParseOptions, VCardInput } from './parse.ts';
export { foldLine, formatContentLine, serializeProperty, serializeVCard, serializeVCards } from './serialize.ts';
export {
  decodeQuotedPrintable,
  decodedValue,
  escapeText,
  listValue,
  paramValue,
  paramValues,
  splitEscaped,
  structuredValue,
  textValue,
  unescapeText,
} from './values.ts';
export { parseBirthday, toContact } from './normalize.ts';
export { plainLabel } from './labels.ts';
export { contactToVCard, displayName, fromContact, rfcType } from './build.ts';
export type { FromContactOptions, PatchField } from './build.ts';
export { FIELD_PROPERTIES, patchVCard } from './patch.ts';
export { contentHash } from './hash.ts';
export { readContact } from './read.ts';
export { FORBIDDEN_CONTROL, findControlInVCardText } from './controls.ts';
