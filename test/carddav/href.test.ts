// The one href/URL equality (lib/carddav/href.ts sameHref) that discovery,
// listings, sync reports and the connections route compare with.
import { describe, expect, it } from 'vitest';
import { hrefKey, sameHref } from '../../lib/carddav/href.ts';

describe('sameHref', () => {
  it.each([
    ['/book/', '/book', true],
    ['/a%40b/', '/a@b', true],
    ['/x/%c3%bc', '/x/ü', true],
    ['/x/a b/', '/x/a%20b', true],
    ['https://H.example:443/book/', 'https://h.example/book', true],
    ['https://h.example/book/', '/book', true],
    ['/book/?x=1', '/book', true],
    ['/book/a%2Fb', '/book/a/b', false],
    ['/book//', '/book', false],
    ['/Book/', '/book/', false],
    ['https://h.example/book/', 'https://other.example/book/', false],
    ['https://h.example/book/', 'http://h.example/book/', false],
    ['/book/a.vcf', '/book/', false],
  ])('%s and %s: same is %s, either way round', (a, b, same) => {
    expect(sameHref(a, b)).toBe(same);
    expect(sameHref(b, a)).toBe(same);
  });

  it('hrefKey collides exactly where the paths compare equal', () => {
    expect(hrefKey('https://h.example/a%40b/')).toBe(hrefKey('/a@b'));
    expect(hrefKey('/')).toBe('/');
    expect(hrefKey('/a/b/')).not.toBe(hrefKey('/a/'));
  });
});
