// Which control characters content from a tenant may carry, one rule for a
// vCard sent as text/vcard and for the text fields of a JSON contact. In
// vCard text (RFC 6350 s3.3, RFC 2425) a value is VALUE-CHAR / WSP: the only
// control allowed is TAB; CR and LF exist only as line ends (CRLF, or a bare
// LF, which readers accept). In a JSON field, a line break is content the
// serializer escapes as `\n`, so CR and LF are allowed there and TAB too:
// every other C0 control and DEL is refused on both paths.
// Cards read from servers are not held to this: the reader stays liberal.

/** C0 controls other than TAB, LF and CR, and DEL. */
export const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

export interface ControlFound {
  /** 1-based line of the raw text. */
  line: number;
  /** The character as U+XXXX. */
  char: string;
}

function described(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The first character of raw vCard text that is not allowed there: a forbidden control, or a CR that does not end a line. */
export function findControlInVCardText(text: string): ControlFound | undefined {
  const m = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]|\r(?!\n)/.exec(text);
  if (m === null) return undefined;
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < m.index; i = text.indexOf('\n', i + 1)) line++;
  return { line, char: described(text.charCodeAt(m.index)) };
}
