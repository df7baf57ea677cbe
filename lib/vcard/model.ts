// The line-level model of a vCard: what was written, not what it means.
// Names, groups and parameters keep their case and order; `value` is the
// unfolded value exactly as written (escapes and QUOTED-PRINTABLE still in
// place). Meaning lives in values.ts and normalize.ts.
//
// Parsed properties also remember their original physical lines, with the
// line ends they had (CRLF, LF, CR, even an iOS export's CR CR LF) and any
// blank lines after them. A parsed property that reaches the serializer
// unchanged is written back from that text, so an untouched card comes back
// byte-for-byte (folding, line ends and blank lines included).
// The raw text sits in a private class field on purpose: `{ ...prop, value }`
// builds a plain object without it, so an edited property can never be
// written out with stale raw text.

export interface VCardParam {
  /** As written; `null` for a vCard 2.1 bare parameter such as `TEL;HOME;VOICE:`. */
  readonly name: string | null;
  /** Unquoted values (`TYPE=a,b` gives two; vCard 4 `TYPE="a,b"` gives one, `a,b`). RFC 6868 `^n ^' ^^` decoded. */
  readonly values: readonly string[];
}

export interface VCardProperty {
  /** Group as written (`item1` of `item1.TEL`). */
  readonly group?: string;
  readonly name: string;
  readonly params: readonly VCardParam[];
  /** Unfolded value as written: escapes kept, QUOTED-PRINTABLE soft breaks joined. */
  readonly value: string;
  /** 1-based physical line number where a parsed property started. */
  readonly line?: number;
}

export interface VCard {
  /** The VERSION value (`3.0`, `4.0`, `2.1`), or undefined when the card has none. */
  readonly version: string | undefined;
  /** Every content line between BEGIN and END, in order (VERSION included). */
  readonly properties: readonly VCardProperty[];
}

export class ParsedProperty implements VCardProperty {
  readonly group?: string;
  readonly name: string;
  readonly params: readonly VCardParam[];
  readonly value: string;
  readonly line: number;
  readonly #raw: string;
  readonly #tail: string;

  constructor(fields: { group: string | undefined; name: string; params: readonly VCardParam[]; value: string; line: number; raw: string; tail: string }) {
    if (fields.group !== undefined) this.group = fields.group;
    this.name = fields.name;
    this.params = fields.params;
    this.value = fields.value;
    this.line = fields.line;
    this.#raw = fields.raw;
    this.#tail = fields.tail;
  }

  static rawOf(prop: VCardProperty): string | undefined {
    return #raw in prop ? (prop as ParsedProperty).#raw : undefined;
  }

  /** The line end after the raw lines, plus any blank lines that followed them. */
  static tailOf(prop: VCardProperty): string | undefined {
    return #tail in prop ? (prop as ParsedProperty).#tail : undefined;
  }
}

/** How a parsed card was delimited: BEGIN and END as written, each with what followed it up to the next line. */
export interface CardDelimiters {
  /** Anything before BEGIN (a BOM, blank lines), the BEGIN line, its line end and blank lines after it. */
  begin: string;
  /** The END line, its line end (none at the end of the input) and blank lines after it. */
  end: string;
  /** The line end that new lines get: the card's own (CRLF, LF or CR). */
  eol: string;
}

export class ParsedCard implements VCard {
  readonly version: string | undefined;
  readonly properties: readonly VCardProperty[];
  /** 1-based line of BEGIN:VCARD. */
  readonly line: number;
  readonly #delimiters: CardDelimiters;

  constructor(fields: { properties: readonly VCardProperty[]; version: string | undefined; line: number; delimiters: CardDelimiters }) {
    this.version = fields.version;
    this.properties = fields.properties;
    this.line = fields.line;
    this.#delimiters = fields.delimiters;
  }

  static delimitersOf(card: VCard): CardDelimiters | undefined {
    return #delimiters in card ? (card as ParsedCard).#delimiters : undefined;
  }
}

/** The original physical lines of a parsed, unedited property (joined by their own line ends, without the last one), if any. */
export function rawLines(prop: VCardProperty): string | undefined {
  return ParsedProperty.rawOf(prop);
}

/** A new card with these properties, keeping the parsed card's BEGIN/END spelling. */
export function withProperties(card: VCard, properties: readonly VCardProperty[]): VCard {
  const delimiters = ParsedCard.delimitersOf(card);
  if (delimiters === undefined) return { version: versionOf(properties), properties };
  return new ParsedCard({ properties, version: versionOf(properties), line: (card as ParsedCard).line, delimiters });
}

export function versionOf(properties: readonly VCardProperty[]): string | undefined {
  for (const p of properties) {
    if (p.group === undefined && p.name.length === 7 && p.name.toUpperCase() === 'VERSION') return p.value.trim();
  }
  return undefined;
}

/** Case-insensitive name test (property names are case-insensitive in every version). */
export function isNamed(prop: VCardProperty, upperName: string): boolean {
  return prop.name.length === upperName.length && prop.name.toUpperCase() === upperName;
}
