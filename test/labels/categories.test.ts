import { describe, expect, it } from 'vitest';
import { applyLabelChange, categoriesPatch, categoryLabels, diffLabels } from '../../lib/labels/categories.ts';
import { detectConvention, isLabelConvention, writeConvention } from '../../lib/labels/convention.ts';
import { InvalidLabelName } from '../../lib/labels/errors.ts';
import { parseVCard, patchVCard, toContact } from '../../lib/vcard/index.ts';

describe('CATEGORIES as labels', () => {
  it('reads escaped commas as part of a name, trims, drops blanks and repeats', () => {
    const contact = toContact(parseVCard('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nCATEGORIES:Family,Friends\\, close, ,Family\r\nCATEGORIES:Work\r\nEND:VCARD\r\n'));
    expect(categoryLabels(contact)).toEqual(['Family', 'Friends, close', 'Work']);
    expect(categoryLabels(undefined)).toEqual([]);
  });

  it('applies add, remove and replace', () => {
    expect(applyLabelChange(['A', 'B'], { add: ['C', 'A'], remove: ['B'] })).toEqual(['A', 'C']);
    expect(applyLabelChange(['A', 'B'], { replace: ['Z', 'Z'] })).toEqual(['Z']);
    expect(applyLabelChange(['A'], { remove: ['missing'] })).toEqual(['A']);
    expect(() => applyLabelChange([], { add: ['bad\nname'] })).toThrow(InvalidLabelName);
  });

  it('diffs two label lists', () => {
    expect(diffLabels(['A', 'B'], ['B', 'C'])).toEqual({ added: ['C'], removed: ['A'] });
    expect(diffLabels(['A'], ['A'])).toBeUndefined();
  });

  it('patches CATEGORIES only when the labels change, and the patch keeps every other line', () => {
    const card = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nCATEGORIES:Family\r\nNOTE:keep me\r\nEND:VCARD\r\n';
    const contact = toContact(parseVCard(card));
    expect(categoriesPatch(contact, { add: ['Family'] })).toBeUndefined();
    const patch = categoriesPatch(contact, { add: ['Friends, close'] });
    expect(patch).toEqual({ categories: ['Family', 'Friends, close'] });
    expect(patchVCard(card, patch!)).toBe('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nCATEGORIES:Family,Friends\\, close\r\nNOTE:keep me\r\nEND:VCARD\r\n');
    const cleared = categoriesPatch(contact, { remove: ['Family'] });
    expect(cleared).toEqual({ categories: null });
    expect(patchVCard(card, cleared!)).toBe('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nNOTE:keep me\r\nEND:VCARD\r\n');
  });
});

describe('which convention a book uses', () => {
  it('detects group vCards first, then CATEGORIES, else none', () => {
    expect(detectConvention({ groupCards: 1, categorizedCards: 5 })).toBe('group-vcards');
    expect(detectConvention({ groupCards: 0, categorizedCards: 5 })).toBe('categories');
    expect(detectConvention({ groupCards: 0, categorizedCards: 0 })).toBeUndefined();
  });

  it('writes in the setting, else the detected one, else group vCards', () => {
    expect(writeConvention({ setting: 'categories', signs: { groupCards: 3, categorizedCards: 0 } })).toBe('categories');
    expect(writeConvention({ signs: { groupCards: 0, categorizedCards: 1 } })).toBe('categories');
    expect(writeConvention({ signs: { groupCards: 0, categorizedCards: 0 } })).toBe('group-vcards');
    expect(isLabelConvention('categories')).toBe(true);
    expect(isLabelConvention('groups')).toBe(false);
  });
});
