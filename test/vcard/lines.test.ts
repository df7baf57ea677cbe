import { describe, expect, it } from 'vitest';
import { splitLines } from '../../lib/vcard/lex.ts';

/** The line ends splitLines knows, as one regex: what it must agree with. */
function bySplit(text: string): { text: string[]; ends: string[] } {
  const parts = text.split(/(\r\r\n|\r\n|\n|\r)/);
  const out = { text: [] as string[], ends: [] as string[] };
  for (let k = 0; k < parts.length; k += 2) {
    out.text.push(parts[k]!);
    out.ends.push(parts[k + 1] ?? '');
  }
  return out;
}

describe('splitLines', () => {
  it('reads CRLF, LF, CR and CR CR LF ends, and an unterminated last line', () => {
    expect(splitLines('A\r\nB\nC\rD\r\r\nE')).toEqual({ text: ['A', 'B', 'C', 'D', 'E'], ends: ['\r\n', '\n', '\r', '\r\r\n', ''] });
    expect(splitLines('A\n')).toEqual({ text: ['A', ''], ends: ['\n', ''] });
    expect(splitLines('')).toEqual({ text: [''], ends: [''] });
  });

  it('cuts every mix of line ends (all strings of up to 6 of a, space, CR, LF) as the regex split does', () => {
    const alphabet = ['a', ' ', '\r', '\n'];
    let checked = 0;
    for (let len = 0; len <= 6; len++) {
      for (let k = 0; k < alphabet.length ** len; k++) {
        let text = '';
        for (let j = 0, x = k; j < len; j++, x = Math.floor(x / alphabet.length)) text += alphabet[x % alphabet.length];
        const got = splitLines(text);
        const want = bySplit(text);
        if (JSON.stringify(got) !== JSON.stringify(want)) expect({ text, got }).toEqual({ text, got: want });
        checked++;
      }
    }
    expect(checked).toBe(5461);
  });
});
