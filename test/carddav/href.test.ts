// The one href/URL equality (lib/carddav/href.ts sameHref) that discovery,
// listings, sync reports and the connections route compare with.
import { describe, expect, it } from 'vitest';
import { hrefKey, sameHref } from '../../lib/carddav/href.ts';

describe('sameHref', () => {
  it.each([
    ['/book/', '/book'],
    ['/a%40b/', '/a@b'],
    ['/x/%c3%bc', '/x/ü'],
    ['/x/a b/', '/x/a%20b'],
    ['https://H.example:443/book/', 'https://h.example/book'],
    ['https://h.example/book/', '/book'],
    ['/book/?x=1', '/book'],
  ])('%s names the same as %s', (a, b) => {
    expect(sameHref(a, b)).toBe(true);
    expect(sameHref(b, a)).toBe(true);
  });

  it.each([
    ['/book/a%2Fb', '/book/a/b'],
    ['/book//', '/book'],
    ['/Book/', '/book/'],
    ['https://h.example/book/', 'https://other.example/book/'],
    ['https://h.example/book/', 'http://h.example/book/'],
    ['/book/a.vcf', '/book/'],
  ])('%s does not name the same as %s', (a, b) => {
    expect(sameHref(a, b)).toBe(false);
    expect(sameHref(b, a)).toBe(false);
  });

  it('hrefKey collides exactly where the paths compare equal', () => {
    expect(hrefKey('https://h.example/a%40b/')).toBe(hrefKey('/a@b'));
    expect(hrefKey('/')).toBe('/');
    expect(hrefKey('/a/b/')).not.toBe(hrefKey('/a/'));
  });
});
