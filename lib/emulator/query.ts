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

function fold(s: string, collation: TextMatch['collation']): string {
  if (collation === 'i;octet') return s;
  return collation === 'i;ascii-casemap' ? s.replace(/[A-Z]/g, (c) => c.toLowerCase()) : s.toLowerCase();
}

function textMatches(value: string, tm: TextMatch): boolean {
  const hay = fold(value.replace(/\\([,;\\])/g, '$1').replace(/\\n/gi, '\n'), tm.collation);
  const needle = fold(tm.needle, tm.collation);
  let hit: boolean;
  switch (tm.matchType) {
    case 'equals':
      hit = hay === needle;
      break;
    case 'starts-with':
      hit = hay.startsWith(needle);
      break;
    case 'ends-with':
      hit = hay.endsWith(needle);
      break;
    default:
      hit = hay.includes(needle);
  }
  return tm.negate ? !hit : hit;
}

function paramMatches(line: VcardLine, pf: ParamFilter): boolean {
  const values = line.params.filter((p) => p.name === pf.name).flatMap((p) => p.values);
  if (pf.isNotDefined) return values.length === 0;
  if (values.length === 0) return false;
  const tm = pf.textMatch;
  return tm === undefined || values.some((v) => textMatches(v, tm));
}

function propMatches(lines: VcardLine[], pf: PropFilter): boolean {
  const instances = lines.filter((l) => l.name === pf.name);
  if (pf.isNotDefined) return instances.length === 0;
  if (instances.length === 0) return false;
  const tests = [
    ...pf.textMatches.map((tm) => (l: VcardLine) => textMatches(l.value, tm)),
    ...pf.paramFilters.map((p) => (l: VcardLine) => paramMatches(l, p)),
  ];
  if (tests.length === 0) return true;
  return instances.some((l) => (pf.allOf ? tests.every((t) => t(l)) : tests.some((t) => t(l))));
}

export function cardMatches(vcard: string, filter: CardFilter | undefined): boolean {
  if (!filter || filter.props.length === 0) return true;
  const lines = unfold(vcard).map((l, i) => parseLine(l, i + 1));
  return filter.allOf ? filter.props.every((p) => propMatches(lines, p)) : filter.props.some((p) => propMatches(lines, p));
}
