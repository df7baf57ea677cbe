import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { foldLine, fromContact, parseVCard, serializeVCard, textValue, toContact } from '../../lib/vcard/index.ts';

const octets = (s: string): number => Buffer.byteLength(s, 'utf8');

function checkFolded(folded: string, original: string): void {
  const physical = folded.split('\r\n');
  for (const [i, line] of physical.entries()) {
    expect(octets(line), `line ${i} "${line}"`).toBeLessThanOrEqual(75);
    expect(line.isWellFormed(), `line ${i} splits a surrogate pair`).toBe(true);
    if (i > 0) expect(line.startsWith(' ')).toBe(true);
  }
  // Each piece but the last is full: the next character would not have fit.
  for (let i = 0; i < physical.length - 1; i++) {
    const next = [...physical[i + 1]!.slice(1)][0]!;
    expect(octets(physical[i]!) + octets(next)).toBeGreaterThan(75);
  }
  expect(physical.map((l, i) => (i === 0 ? l : l.slice(1))).join('')).toBe(original);
}

describe('folding at 75 octets', () => {
  it('leaves a line of exactly 75 octets alone and folds one of 76', () => {
    expect(foldLine('a'.repeat(75))).toBe('a'.repeat(75));
    expect(foldLine('a'.repeat(76))).toBe(`${'a'.repeat(75)}\r\n a`);
    expect(foldLine(`${'a'.repeat(73)}é`)).toBe(`${'a'.repeat(73)}é`);
    expect(foldLine(`${'a'.repeat(74)}é`)).toBe(`${'a'.repeat(74)}\r\n é`);
  });

  it.each([
    ['2-octet é', 'é'],
    ['3-octet CJK', '李'],
    ['4-octet emoji (surrogate pair)', '😀'],
    ['emoji with skin tone and ZWJ', '👩🏽‍💻'],
  ])('never splits a %s across lines, whatever its offset', (_name, ch) => {
    for (let prefix = 60; prefix <= 80; prefix++) {
      const line = `NOTE:${'a'.repeat(prefix)}${ch.repeat(40)}`;
      checkFolded(foldLine(line), line);
    }
  });

  it('puts a multi-byte character that would cross the boundary on the next line', () => {
    const line = `${'x'.repeat(73)}😀y`;
    expect(foldLine(line)).toBe(`${'x'.repeat(73)}\r\n 😀y`);
    const cjk = `${'x'.repeat(73)}李y`;
    expect(foldLine(cjk)).toBe(`${'x'.repeat(73)}\r\n 李y`);
  });

  it('continuation lines hold 74 octets after the leading space', () => {
    const folded = foldLine('b'.repeat(75 + 74 + 3)).split('\r\n');
    expect(folded.map((l) => l.length)).toEqual([75, 75, 4]);
  });

  it('fromContact output has no physical line over 75 octets and re-parses to the same values', () => {
    const note = `${'注意'.repeat(30)} ${'🎉'.repeat(25)} ${'ü'.repeat(50)}\nsecond line, with; specials\\`;
    const fullName = `${'Ω'.repeat(37)}😀${'名'.repeat(20)}`;
    const text = fromContact({ fullName, note, categories: ['😀'.repeat(30), '分类'] });
    for (const line of text.split('\r\n')) {
      expect(octets(line)).toBeLessThanOrEqual(75);
      expect(line.isWellFormed()).toBe(true);
    }
    expect(text.split('\r\n').length).toBeGreaterThan(8);
    const contact = toContact(parseVCard(text));
    expect(contact).toEqual({ fullName, note, categories: ['😀'.repeat(30), '分类'] });
    // And the re-parsed card serializes to exactly the same text.
    expect(serializeVCard(parseVCard(text))).toBe(text);
  });

  it('a long unfolded line read from a server is kept unfolded when untouched', () => {
    const long = `NOTE:${'長'.repeat(40)}`;
    const text = `BEGIN:VCARD\r\nVERSION:3.0\r\n${long}\r\nEND:VCARD\r\n`;
    const card = parseVCard(text);
    expect(serializeVCard(card)).toBe(text);
    expect(textValue(card.properties[1]!)).toBe('長'.repeat(40));
  });
});
