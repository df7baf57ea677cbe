// RFC 6352 section 10.5 filters for addressbook-query: prop-filter,
// param-filter, text-match, is-not-defined. Enough for clients that search
// by name or email; Google's own support is partial, ours is honest.

import { MalformedXmlError } from './errors.ts';
import { unfold, parseLine } from './vcard.ts';
import type { VcardLine } from './vcard.ts';
import { CARDDAV_NS, child, childrenNamed } from './xml.ts';
import type { XmlElement } from './xml.ts';

export class UnsupportedCollationError extends MalformedXmlError {}

interface TextMatch {
  needle: string;
  collation: 'i;unicode-casemap' | 'i;ascii-casemap' | 'i;octet';
  negate: boolean;
  matchType: 'equals' | 'contains' | 'starts-with' | 'ends-with';
}

interface ParamFilter {
  name: string;
  isNotDefined: boolean;
  textMatch: TextMatch | undefined;
}

interface PropFilter {
  name: string;
  allOf: boolean;
  isNotDefined: boolean;
  textMatches: TextMatch[];
  paramFilters: ParamFilter[];
}

export interface CardFilter {
  allOf: boolean;
  props: PropFilter[];
}

function parseTextMatch(el: XmlElement): TextMatch {
  const collation = el.attrs['collation'] ?? 'i;unicode-casemap';
  if (collation !== 'i;unicode-casemap' && collation !== 'i;ascii-casemap' && collation !== 'i;octet') {
    throw new UnsupportedCollationError(`Unsupported collation ${collation}`);
  }
  const matchType = el.attrs['match-type'] ?? 'contains';
  if (matchType !== 'equals' && matchType !== 'contains' && matchType !== 'starts-with' && matchType !== 'ends-with') {
    throw new MalformedXmlError(`Unsupported match-type ${matchType}`);
  }
  return { needle: el.text, collation, negate: el.attrs['negate-condition'] === 'yes', matchType };
}

/** undefined when the query has no filter (every card matches). */
export function parseFilter(query: XmlElement): CardFilter | undefined {
  const filter = child(query, CARDDAV_NS, 'filter');
  if (!filter) return undefined;
  return {
    allOf: filter.attrs['test'] === 'allof',
    props: childrenNamed(filter, CARDDAV_NS, 'prop-filter').map((pf) => {
      const name = pf.attrs['name'];
      if (!name) throw new MalformedXmlError('prop-filter needs a name attribute');
      return {
        name: name.toUpperCase(),
        allOf: pf.attrs['test'] === 'allof',
        isNotDefined: child(pf, CARDDAV_NS, 'is-not-defined') !== undefined,
        textMatches: childrenNamed(pf, CARDDAV_NS, 'text-match').map(parseTextMatch),
        paramFilters: childrenNamed(pf, CARDDAV_NS, 'param-filter').map((paf) => {
          const pname = paf.attrs['name'];
          if (!pname) throw new MalformedXmlError('param-filter needs a name attribute');
          const tm = child(paf, CARDDAV_NS, 'text-match');
          return {
            name: pname.toUpperCase(),
            isNotDefined: child(paf, CARDDAV_NS, 'is-not-defined') !== undefined,
            textMatch: tm ? parseTextMatch(tm) : undefined,
          };
        }),
      };
    }),
  };
}

/** How the emulator matches (quirks queryCaseSensitive, queryNegationBroken). */
export interface MatchOptions {
  /** Compare case-sensitively whatever the collation (Google). */
  caseSensitive: boolean;
  /** A negated text-match means "no instance matches" (Google): a card without the property matches. */
  negationBroken: boolean;
}

const RFC_MATCHING: MatchOptions = { caseSensitive: false, negationBroken: false };

function fold(s: string, collation: TextMatch['collation'], opts: MatchOptions): string {
  if (collation === 'i;octet' || opts.caseSensitive) return s;
  return collation === 'i;ascii-casemap' ? s.replace(/[A-Z]/g, (c) => c.toLowerCase()) : s.toLowerCase();
}

/** Whether the value matches the text-match, before any negation. */
function hits(value: string, tm: TextMatch, opts: MatchOptions): boolean {
  const hay = fold(value.replace(/\\([,;\\])/g, '$1').replace(/\\n/gi, '\n'), tm.collation, opts);
  const needle = fold(tm.needle, tm.collation, opts);
  switch (tm.matchType) {
    case 'equals':
      return hay === needle;
    case 'starts-with':
      return hay.startsWith(needle);
    case 'ends-with':
      return hay.endsWith(needle);
    default:
      return hay.includes(needle);
  }
}

function textMatches(value: string, tm: TextMatch, opts: MatchOptions): boolean {
  const hit = hits(value, tm, opts);
  return tm.negate ? !hit : hit;
}

function paramMatches(line: VcardLine, pf: ParamFilter, opts: MatchOptions): boolean {
  const values = line.params.filter((p) => p.name === pf.name).flatMap((p) => p.values);
  if (pf.isNotDefined) return values.length === 0;
  if (values.length === 0) return false;
  const tm = pf.textMatch;
  return tm === undefined || values.some((v) => textMatches(v, tm, opts));
}

/** Google's reading of a prop-filter with a negated text-match: each test over the card, a negated one true when no instance matches. */
function brokenNegation(instances: VcardLine[], pf: PropFilter, opts: MatchOptions): boolean {
  const tests = [
    ...pf.textMatches.map((tm) =>
      tm.negate ? () => !instances.some((l) => hits(l.value, tm, opts)) : () => instances.some((l) => hits(l.value, tm, opts)),
    ),
    ...pf.paramFilters.map((p) => () => instances.some((l) => paramMatches(l, p, opts))),
  ];
  return pf.allOf ? tests.every((t) => t()) : tests.some((t) => t());
}

function propMatches(lines: VcardLine[], pf: PropFilter, opts: MatchOptions): boolean {
  const instances = lines.filter((l) => l.name === pf.name);
  if (pf.isNotDefined) return instances.length === 0;
  if (opts.negationBroken && pf.textMatches.some((tm) => tm.negate)) return brokenNegation(instances, pf, opts);
  if (instances.length === 0) return false;
  const tests = [
    ...pf.textMatches.map((tm) => (l: VcardLine) => textMatches(l.value, tm, opts)),
    ...pf.paramFilters.map((p) => (l: VcardLine) => paramMatches(l, p, opts)),
  ];
  if (tests.length === 0) return true;
  return instances.some((l) => (pf.allOf ? tests.every((t) => t(l)) : tests.some((t) => t(l))));
}

export function cardMatches(vcard: string, filter: CardFilter | undefined, opts: MatchOptions = RFC_MATCHING): boolean {
  if (!filter || filter.props.length === 0) return true;
  const lines = unfold(vcard).map((l, i) => parseLine(l, i + 1));
  return filter.allOf ? filter.props.every((p) => propMatches(lines, p, opts)) : filter.props.some((p) => propMatches(lines, p, opts));
}

/**
 * RFC 6352 s10.4.2 partial retrieval: only the named properties (and the
 * card's frame). Property names are compared without their group.
 */
export function partialCard(vcard: string, names: ReadonlySet<string>): string {
  const kept: string[] = [];
  let keep = false;
  // Physical lines, so that a kept property keeps its folding.
  for (const line of vcard.split(/\r\n|\n|\r/)) {
    if (line === '') continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (keep) kept.push(line);
      continue;
    }
    const head = /^[^:;]*/.exec(line)?.[0] ?? '';
    const name = head.slice(head.lastIndexOf('.') + 1).toUpperCase();
    keep = name === 'BEGIN' || name === 'END' || name === 'VERSION' || names.has(name);
    if (keep) kept.push(line);
  }
  return kept.join('\r\n') + '\r\n';
}
