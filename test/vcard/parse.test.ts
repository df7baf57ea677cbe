import { describe, expect, it } from 'vitest';
import {
  VCardError,
  VCardParseError,
  VCardTooLargeError,
  decodedValue,
  paramValues,
  parseVCard,
  parseVCards,
  serializeVCard,
  serializeVCards,
  textValue,
  withProperties,
  decodeVCardBytes,
} from '../../lib/vcard/index.ts';
import { Buffer } from 'node:buffer';
import type { VCard, VCardProperty } from '../../lib/vcard/index.ts';
import { APPLE_CARD, GOOGLE_CARD, LF_CARD, QP_CARD, V4_CARD } from './fixtures.ts';

function find(card: VCard, name: string, group?: string): VCardProperty {
  const p = card.properties.find((q) => q.name.toUpperCase() === name && (group === undefined || q.group === group));
  if (p === undefined) throw new Error(`no ${name} in card`);
  return p;
}

function parseError(input: string | Uint8Array, options?: { maxBytes?: number; maxTotalBytes?: number; strict?: boolean }, many = false): VCardParseError {
  try {
    if (many) parseVCards(input, options);
    else parseVCard(input, options);
  } catch (error) {
    expect(error).toBeInstanceOf(VCardParseError);
    expect(error).toBeInstanceOf(VCardError);
    return error as VCardParseError;
  }
  throw new Error('expected a VCardParseError');
}

describe('round trip of untouched cards', () => {
  it.each([
    ['Google', GOOGLE_CARD],
    ['Apple', APPLE_CARD],
    ['vCard 4.0', V4_CARD],
    ['vCard 2.1 quoted-printable', QP_CARD],
  ])('%s card serializes byte-for-byte', (_name, text) => {
    expect(serializeVCard(parseVCard(text))).toBe(text);
  });

  it('bare LF input comes back byte-for-byte, LF-terminated', () => {
    expect(serializeVCard(parseVCard(LF_CARD))).toBe(LF_CARD);
  });

  it('an edited line in an LF card gets the card’s own line end', () => {
    const card = parseVCard(LF_CARD);
    const edited = { ...card, properties: card.properties.map((p) => (p.name === 'FN' ? { ...p, value: 'Renamed' } : p)) };
    expect(serializeVCard(withProperties(card, edited.properties))).toBe(LF_CARD.replace(/FN:[^\n]*/, 'FN:Renamed'));
  });

  it('keeps case of BEGIN/END, groups, names, params, and odd spacing inside lines', () => {
    const text = [
      'begin:vcard',
      'version:3.0',
      'Item1.Email;Type=Work;tYpE=pref:a@b.example',
      'Item1.X-ABLabel:Work stuff',
      'x-custom-thing;X-Param="quoted: value, with; delims";Other=one,two:  spaced value  ',
      'FN:Case Keeper',
      'end:vcard',
      '',
    ].join('\r\n');
    const card = parseVCard(text);
    expect(serializeVCard(card)).toBe(text);
    const email = card.properties[1]!;
    expect(email).toMatchObject({ group: 'Item1', name: 'Email', value: 'a@b.example', line: 3 });
    expect(email.params).toEqual([
      { name: 'Type', values: ['Work'] },
      { name: 'tYpE', values: ['pref'] },
    ]);
    const custom = card.properties[3]!;
    expect(custom.params).toEqual([
      { name: 'X-Param', values: ['quoted: value, with; delims'] },
      { name: 'Other', values: ['one', 'two'] },
    ]);
    expect(custom.value).toBe('  spaced value  ');
  });

  it('keeps original folding of an untouched long line instead of refolding it', () => {
    const text = ['BEGIN:VCARD', 'VERSION:3.0', 'NOTE:short fold', '\there', `X-LONG:${'x'.repeat(120)}`, 'END:VCARD', ''].join('\r\n');
    const card = parseVCard(text);
    expect(textValue(find(card, 'NOTE'))).toBe('short foldhere');
    expect(serializeVCard(card)).toBe(text);
  });

  it('an edited copy of a parsed property is rebuilt, not written from its stale raw lines', () => {
    const card = parseVCard(GOOGLE_CARD);
    const edited = card.properties.map((p) => (p.name === 'TITLE' ? { ...p, value: 'Mathematician' } : p));
    const out = serializeVCard({ ...card, properties: edited });
    expect(out).toBe(GOOGLE_CARD.replace('TITLE:Countess of Lovelace', 'TITLE:Mathematician'));
  });
});

describe('serializing hand-built properties', () => {
  it('writes a raw line break in a value as \\n, so it cannot start a line of its own', () => {
    const out = serializeVCard({ version: '3.0', properties: [{ name: 'NOTE', params: [], value: 'a\r\nEND:VCARD\nBEGIN:VCARD\rb' }] });
    expect(out).toBe('BEGIN:VCARD\r\nNOTE:a\\nEND:VCARD\\nBEGIN:VCARD\\nb\r\nEND:VCARD\r\n');
    expect(parseVCards(out)).toHaveLength(1);
  });

  it('quotes parameter values with delimiters and caret-encodes quotes and line breaks', () => {
    const out = serializeVCard({
      version: '3.0',
      properties: [{ group: 'g1', name: 'X-A', params: [{ name: 'P', values: ['a:b', 'say "hi"\nbye', 'x^y'] }, { name: null, values: ['HOME'] }], value: 'v' }],
    });
    expect(out).toBe('BEGIN:VCARD\r\ng1.X-A;P="a:b",say ^\'hi^\'^nbye,x^^y;HOME:v\r\nEND:VCARD\r\n');
    expect(parseVCard(out).properties[0]!.params).toEqual([
      { name: 'P', values: ['a:b', 'say "hi"\nbye', 'x^y'] },
      { name: null, values: ['HOME'] },
    ]);
  });
});

describe('line syntax', () => {
  it('unfolds continuation lines (space or tab) and keeps base64 intact', () => {
    const card = parseVCard(APPLE_CARD);
    const photo = find(card, 'PHOTO');
    expect(photo.value.length).toBe(804);
    expect(photo.value).not.toMatch(/\s/);
    expect(photo.line).toBe(21);
    expect(find(card, 'X-ABSHOWAS').line).toBe(33);
  });

  it('reads escapes \\\\ \\, \\; \\n \\N in text and structured values', () => {
    const card = parseVCard(LF_CARD);
    expect(textValue(find(card, 'NOTE'))).toBe('Line one\nLine two, with comma; and semicolon\\ and backslash\n and a folded tail');
  });

  it('parses repeated and comma-joined TYPE, vCard 4 quoted lists, and 2.1 bare parameters', () => {
    const card = parseVCard(
      [
        'BEGIN:VCARD',
        'VERSION:3.0',
        'TEL;TYPE=WORK,VOICE;TYPE=pref:1',
        'EMAIL;TYPE="work,internet":a@b.example',
        'TEL;CELL;VOICE:2',
        'END:VCARD',
      ].join('\r\n'),
    );
    const [, tel, email, old] = card.properties as [VCardProperty, VCardProperty, VCardProperty, VCardProperty];
    expect(paramValues(tel, 'TYPE')).toEqual(['WORK', 'VOICE', 'pref']);
    expect(email.params).toEqual([{ name: 'TYPE', values: ['work,internet'] }]);
    expect(paramValues(email, 'TYPE')).toEqual(['work', 'internet']);
    expect(old.params).toEqual([
      { name: null, values: ['CELL'] },
      { name: null, values: ['VOICE'] },
    ]);
    expect(paramValues(old, 'TYPE')).toEqual(['CELL', 'VOICE']);
  });

  it('decodes RFC 6868 caret escapes in parameter values', () => {
    const card = parseVCard('BEGIN:VCARD\r\nADR;LABEL="Line 1^nSays ^\'hi^\' ^^":;;x;;;;\r\nEND:VCARD\r\n');
    expect(card.properties[0]!.params[0]!.values).toEqual(['Line 1\nSays "hi" ^']);
  });

  it('decodes quoted-printable with CHARSET and soft line breaks', () => {
    const card = parseVCard(QP_CARD);
    const note = find(card, 'NOTE');
    expect(note.value).toBe('Zeile eins=0D=0AZeile zwei ist l=C3=A4nger und wird mit einem weichen Umbruch fortgesetzt.');
    expect(textValue(note)).toBe('Zeile eins\nZeile zwei ist länger und wird mit einem weichen Umbruch fortgesetzt.');
    expect(decodedValue(find(card, 'ADR'))).toBe(';;Hauptstraße 1;Köln;;50667;Deutschland');
    expect(find(card, 'BDAY').line).toBe(11);
  });

  it('accepts bare CR line ends and a UTF-8 BOM, and writes both back', () => {
    const text = '\uFEFFBEGIN:VCARD\rVERSION:3.0\rFN:Mac Classic\rEND:VCARD\r';
    const cards = parseVCards(text);
    expect(cards).toHaveLength(1);
    expect(textValue(cards[0]!.properties[1]!)).toBe('Mac Classic');
    expect(serializeVCards(cards)).toBe(text);
  });

  it('reads CR CR LF (an iOS export) as one line end, folds included', () => {
    const text = 'BEGIN:VCARD\r\r\nVERSION:3.0\r\r\nNOTE:one \r\r\n two\r\r\nFN:x\r\r\nEND:VCARD\r\r\n';
    const card = parseVCard(text);
    expect(card.properties.map((p) => p.name)).toEqual(['VERSION', 'NOTE', 'FN']);
    expect(textValue(find(card, 'NOTE'))).toBe('one two');
    expect(serializeVCard(card)).toBe(text);
  });

  it('reads Uint8Array input as UTF-8', () => {
    const bytes = new TextEncoder().encode('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë 😀 李\r\nEND:VCARD\r\n');
    expect(textValue(parseVCard(bytes).properties[1]!)).toBe('Zoë 😀 李');
  });

  it('skips blank lines between and inside cards, and writes them back', () => {
    const text = '\r\nBEGIN:VCARD\r\nVERSION:3.0\r\n\r\nFN:A\r\n\r\n   \r\nEND:VCARD\r\n\r\n\r\n';
    const card = parseVCard(text);
    expect(card.properties.map((p) => p.name)).toEqual(['VERSION', 'FN']);
    expect(serializeVCard(card)).toBe(text);
    expect(serializeVCard(parseVCard('BEGIN:VCARD\r\nFN:A\r\nEND:VCARD'))).toBe('BEGIN:VCARD\r\nFN:A\r\nEND:VCARD');
  });
});

describe('several cards', () => {
  it('parseVCards reads a bulk file in order; serializeVCards writes it back', () => {
    const bulk = GOOGLE_CARD + APPLE_CARD + V4_CARD;
    const cards = parseVCards(bulk);
    expect(cards.map((c) => c.version)).toEqual(['3.0', '3.0', '4.0']);
    expect(serializeVCards(cards)).toBe(bulk);
  });

  it('parseVCards of text without cards is empty', () => {
    expect(parseVCards('')).toEqual([]);
    expect(parseVCards('\r\n  \r\n')).toEqual([]);
  });

  it('parseVCard requires exactly one card', () => {
    expect(parseError(GOOGLE_CARD + APPLE_CARD).message).toBe(`line 25: expected exactly one vCard, found 2`);
    expect(parseError('').message).toBe('no vCard found (missing BEGIN:VCARD)');
  });
});

describe('lenient reading of what exporters write', () => {
  const wrap = (...lines: string[]): string => ['BEGIN:VCARD', 'VERSION:3.0', ...lines, 'END:VCARD', ''].join('\r\n');

  it('a line without ":" is kept verbatim as an opaque property with an empty value', () => {
    const text = wrap('FN', 'Just some words', 'EMAIL:a@example.com');
    const card = parseVCard(text);
    expect(card.properties.map((p) => [p.name, p.value])).toEqual([
      ['VERSION', '3.0'],
      ['FN', ''],
      ['Just some words', ''],
      ['EMAIL', 'a@example.com'],
    ]);
    expect(serializeVCard(card)).toBe(text);
  });

  it('property names outside the grammar are read and kept verbatim', () => {
    const text = wrap('X-messaging/gadu-All:12345', 'X-GOOGLE TALK:ada@gmail.example', 'a.b.TEL;TYPE=CELL:+1 555', 'X-A;P="abc:d');
    const card = parseVCard(text);
    expect(card.properties.slice(1).map((p) => [p.group, p.name, p.value])).toEqual([
      [undefined, 'X-messaging/gadu-All', '12345'],
      [undefined, 'X-GOOGLE TALK', 'ada@gmail.example'],
      ['a.b', 'TEL', '+1 555'],
      [undefined, 'X-A', 'd'],
    ]);
    expect(card.properties[4]!.params).toEqual([{ name: 'P', values: ['"abc'] }]);
    expect(serializeVCard(card)).toBe(text);
  });

  it('a nested card (a 2.1 AGENT) is one opaque property of its parent', () => {
    const text = wrap('N:parent', 'AGENT:', 'BEGIN:VCARD', 'VERSION:2.1', 'N:agent', 'TEL:2', 'END:VCARD', 'TEL:1');
    const card = parseVCard(text);
    expect(card.properties.map((p) => p.name)).toEqual(['VERSION', 'N', 'AGENT', 'BEGIN', 'TEL']);
    expect(serializeVCard(card)).toBe(text);
  });

  it('a 2.1 bare parameter list keeps every value', () => {
    const card = parseVCard(wrap('TEL;TYPE=VOICE;MSG,WORK:+1 555'));
    expect(paramValues(card.properties[1]!, 'TYPE')).toEqual(['VOICE', 'MSG', 'WORK']);
  });

  it('quoted-printable: a bad escape is a literal "=", an unknown CHARSET falls back to UTF-8', () => {
    const card = parseVCard(wrap('NOTE;ENCODING=QUOTED-PRINTABLE:a=ZZb', 'X-B;CHARSET=x-klingon;ENCODING=QUOTED-PRINTABLE:a=C3=A9b'));
    expect(decodedValue(card.properties[1]!)).toBe('a=ZZb');
    expect(decodedValue(card.properties[2]!)).toBe('aéb');
  });

  it('a 2.1 quoted-printable soft break followed by a line starting with a blank: the blank is data', () => {
    const text = ['BEGIN:VCARD', 'VERSION:2.1', 'NOTE;ENCODING=QUOTED-PRINTABLE:first=', ' second=0D=0A=', 'third', 'FN:x', 'END:VCARD', ''].join('\r\n');
    const card = parseVCard(text);
    expect(textValue(card.properties[1]!)).toBe('first second\nthird');
    expect(card.properties.map((p) => p.name)).toEqual(['VERSION', 'NOTE', 'FN']);
    expect(serializeVCard(card)).toBe(text);
  });

  it('a 2.1 base64 value continues on unindented base64 lines and ends at a blank line', () => {
    const text = ['BEGIN:VCARD', 'VERSION:2.1', 'PHOTO;ENCODING=BASE64;TYPE=JPEG:/9j/4AAQ', 'SkZJRgAB', 'AQEASABI', '', 'FN:x', 'END:VCARD', ''].join('\r\n');
    const card = parseVCard(text);
    expect(card.properties.map((p) => p.name)).toEqual(['VERSION', 'PHOTO', 'FN']);
    expect(card.properties[1]!.value).toBe('/9j/4AAQSkZJRgABAQEASABI');
    expect(serializeVCard(card)).toBe(text);
  });
});

describe('bytes', () => {
  const bytesOf = (...parts: (string | number[])[]): Uint8Array =>
    Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...new TextEncoder().encode(p)] : p)));

  it('decodes by CHARSET on raw 8-bit values and on quoted-printable values', () => {
    const bytes = bytesOf(
      'BEGIN:VCARD\r\nVERSION:2.1\r\nFN;CHARSET=SHIFT_JIS:',
      [0x8e, 0x52, 0x93, 0x63],
      '\r\nNOTE;CHARSET=windows-1252:caf',
      [0xe9],
      '\r\nX-Q;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:K=F6ln\r\nEND:VCARD\r\n',
    );
    const card = parseVCard(bytes);
    expect(card.properties.slice(1).map((p) => textValue(p))).toEqual(['山田', 'café', 'Köln']);
  });

  it('invalid UTF-8 without CHARSET falls back to windows-1252 for that line only', () => {
    const bytes = bytesOf('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:K', [0xf6], 'ln ', [0x80], '\r\nNOTE:Zoë\r\nEND:VCARD\r\n');
    const card = parseVCard(bytes);
    expect(card.properties.slice(1).map((p) => textValue(p))).toEqual(['Köln €', 'Zoë']);
    expect(parseVCard(bytesOf('BEGIN:VCARD\r\nFN:', [0xc0, 0x80], '\r\nEND:VCARD\r\n')).properties[0]!.value).toBe('À\u20ac');
  });

  it('a UTF-8 character split by a fold is rejoined (the line comes out unfolded)', () => {
    const e = new TextEncoder().encode('é');
    const bytes = bytesOf('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ren', [e[0]!], '\r\n ', [e[1]!], '\r\nEND:VCARD\r\n');
    const card = parseVCard(bytes);
    expect(textValue(card.properties[1]!)).toBe('René');
    expect(serializeVCard(card)).toBe('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:René\r\nEND:VCARD\r\n');
  });

  it('a UTF-16 byte-order mark (or UTF-16 without one) decodes the whole input', () => {
    const text = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë 李\r\nEND:VCARD\r\n';
    const le = Buffer.from(`\uFEFF${text}`, 'utf16le');
    const be = Buffer.from(le).swap16();
    for (const bytes of [le, be, Buffer.from(text, 'utf16le')]) expect(textValue(parseVCard(new Uint8Array(bytes)).properties[1]!)).toBe('Zoë 李');
    expect(decodeVCardBytes(new Uint8Array(Buffer.from(text, 'utf16le')))).toBe(text);
  });
});

describe('errors', () => {
  it.each([
    ['content before BEGIN', 'FN:Lost\r\nBEGIN:VCARD\r\nEND:VCARD', 1, 'content line outside BEGIN:VCARD ... END:VCARD (missing BEGIN:VCARD?): "FN:Lost"'],
    ['missing END', 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\n', 1, 'unterminated vCard: BEGIN:VCARD on line 1 has no END:VCARD'],
    ['END without BEGIN', 'END:VCARD\r\n', 1, 'END:VCARD without BEGIN:VCARD'],
    ['unterminated nested card', 'BEGIN:VCARD\r\nFN:a\r\nAGENT:\r\nBEGIN:VCARD\r\nFN:b\r\n', 4, 'unterminated BEGIN inside the vCard begun on line 1'],
    ['other component', 'BEGIN:VCALENDAR\r\nEND:VCALENDAR', 1, 'expected BEGIN:VCARD, found BEGIN:VCALENDAR'],
    ['wrong END', 'BEGIN:VCARD\r\nEND:VEVENT', 2, 'expected END:VCARD, found END:VEVENT'],
    ['orphan continuation', '\r\n continued\r\nBEGIN:VCARD\r\nEND:VCARD', 2, 'folded continuation line (starting with a blank) with no content line before it'],
  ])('%s', (_name, text, line, message) => {
    const error = parseError(text);
    expect(error.line).toBe(line);
    expect(error.message).toBe(`line ${line}: ${message}`);
  });

  it.each([
    ['line without colon', 'BEGIN:VCARD\r\nVERSION:3.0\r\nJust some words\r\nEND:VCARD', 3, 'content line has no ":" between name and value: "Just some words"'],
    ['bad name', 'BEGIN:VCARD\r\nE MAIL:x\r\nEND:VCARD', 2, 'property name outside the vCard grammar: "E MAIL"'],
    ['nested card', 'BEGIN:VCARD\r\nFN:a\r\nBEGIN:VCARD\r\nEND:VCARD\r\nEND:VCARD', 3, 'nested BEGIN:VCARD inside the vCard begun on line 1'],
  ])('strict mode (cards a client sends) refuses what the lenient reader keeps: %s', (_name, text, line, message) => {
    expect(() => parseVCard(text)).not.toThrow();
    const error = parseError(text, { strict: true });
    expect(error.message).toBe(`line ${line}: ${message}`);
  });

  it('strict mode takes only UTF-8 bytes and names the line', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:K'), 0xf6, ...new TextEncoder().encode('ln\r\nEND:VCARD\r\n')]);
    expect(textValue(parseVCard(bytes).properties[1]!)).toBe('Köln');
    const error = parseError(bytes, { strict: true });
    expect(error.message).toBe('line 3: invalid UTF-8');
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it('non-string input is a parse error, not a TypeError', () => {
    expect(parseError(42 as unknown as string).message).toBe('expected a string or Uint8Array, got number');
  });

  it('enforces the size limit on strings, bytes, and single cards in a bulk text', () => {
    const big = `BEGIN:VCARD\r\nNOTE:${'é'.repeat(600)}\r\nEND:VCARD\r\n`;
    const asString = parseError(big, { maxBytes: 1000 });
    expect(asString).toBeInstanceOf(VCardTooLargeError);
    expect(asString.message).toBe('input is larger than the limit of 1000 bytes');
    expect(parseError(new TextEncoder().encode(big), { maxBytes: 1000 })).toBeInstanceOf(VCardTooLargeError);
    expect(parseVCard(big, { maxBytes: 1300 }).properties).toHaveLength(1);

    const bulk = `BEGIN:VCARD\r\nFN:small\r\nEND:VCARD\r\n${big}`;
    const perCard = parseError(bulk, { maxBytes: 1000 }, true);
    expect(perCard).toBeInstanceOf(VCardTooLargeError);
    expect(perCard.message).toBe('line 5: the vCard begun on line 4 is larger than the limit of 1000 bytes');
    expect(parseError(bulk, { maxTotalBytes: 500 }, true)).toBeInstanceOf(VCardTooLargeError);
  });

  it('the default limit is 1 MiB', () => {
    const note = 'a'.repeat(1024 * 1024);
    expect(parseError(`BEGIN:VCARD\r\nNOTE:${note}\r\nEND:VCARD\r\n`)).toBeInstanceOf(VCardTooLargeError);
    expect(parseVCard(`BEGIN:VCARD\r\nNOTE:${note.slice(40)}\r\nEND:VCARD\r\n`).properties).toHaveLength(1);
  });
});
