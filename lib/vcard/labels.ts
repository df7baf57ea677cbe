// Apple writes its standard labels as `_$!<HomePage>!$_` (Google copies the
// convention); consumers want the plain words. Anything else is a user's own
// label and is kept as written.

const KNOWN: ReadonlyMap<string, string> = new Map([
  ['HomePage', 'home page'],
  ['HomeFAX', 'home fax'],
  ['WorkFAX', 'work fax'],
  ['OtherFAX', 'other fax'],
  ['iPhone', 'iphone'],
  ['AppleWatch', 'apple watch'],
]);

function splitCamel(word: string): string {
  let out = '';
  for (let i = 0; i < word.length; i++) {
    const ch = word[i]!;
    const isUpper = ch >= 'A' && ch <= 'Z';
    const prev = word[i - 1];
    const next = word[i + 1];
    const prevLower = prev !== undefined && ((prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9'));
    const nextLower = next !== undefined && next >= 'a' && next <= 'z';
    const prevUpper = prev !== undefined && prev >= 'A' && prev <= 'Z';
    if (isUpper && (prevLower || (prevUpper && nextLower))) out += ' ';
    out += ch;
  }
  return out.toLowerCase();
}

/** `_$!<HomeFAX>!$_` -> `home fax`; other labels unchanged. */
export function plainLabel(label: string): string {
  if (!label.startsWith('_$!<') || !label.endsWith('>!$_') || label.length < 9) return label;
  const word = label.slice(4, -4);
  return KNOWN.get(word) ?? splitCamel(word);
}
