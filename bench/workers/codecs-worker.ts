// Child process for codec throughput: vCard parse, toContact and serialize on
// the emulator's generated book, and the multistatus parser beside
// fast-xml-parser's bare parse of the same bytes. One warm-up pass, then
// `reps` timed passes; the medians go back to the parent.
import { XMLParser, type X2jOptions } from 'fast-xml-parser';
import { multigetBody, parseMultistatus } from '../../lib/carddav/xml.ts';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import { fromContact, parseVCard, serializeVCard, toContact, type VCard } from '../../lib/vcard/index.ts';
import { BOOK_SEED } from '../lib/book.ts';
import { serveChild } from '../lib/child.ts';
import { identityFetch } from '../lib/http.ts';
import { median } from '../lib/report.ts';

/**
 * The options lib/carddav gave fast-xml-parser before it read DAV answers
 * with its own one-pass reader (lib/carddav/xml-reader.ts): ordered output,
 * attributes kept, no entity or value processing.
 */
const FORMER_OPTIONS: Partial<X2jOptions> = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  cdataPropName: '#cdata',
  commentPropName: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  jPath: false,
};

export interface CodecsParams {
  cards: number;
  reps: number;
}

export interface CodecsResult {
  cards: number;
  vcardBytes: number;
  serializedBytes: number;
  builtBytes: number;
  xmlBytes: number;
  /** Median ms per pass over all cards / the whole document. */
  parseMs: number;
  toContactMs: number;
  /** serializeVCard of unchanged parsed cards: the lossless codec re-emits their original lines. */
  serializeMs: number;
  /** fromContact: a vCard built from a normalized contact (the write path). */
  fromContactMs: number;
  xmlOursMs: number;
  xmlBareMs: number;
  /** fast-xml-parser with the options lib/carddav uses (ordered output, attributes), without our checks and namespace resolution. */
  xmlSameOptionsMs: number;
  reps: number;
}

/** The cards and a multistatus answer of all of them, from the emulator over HTTP. */
async function material(count: number): Promise<{ vcards: string[]; xml: string }> {
  const emulator = await startGoogleEmulator();
  try {
    const email = 'codecs@example.com';
    emulator.addAccount({ email });
    const seeded = emulator.seed(email, count, { seed: BOOK_SEED });
    const res = await identityFetch(emulator.addressBookUrl(email), {
      method: 'REPORT',
      headers: { Authorization: `Bearer ${emulator.issueAccessToken(email)}`, 'Content-Type': 'application/xml; charset=utf-8', Depth: '1' },
      body: multigetBody(seeded.map((c) => c.href)),
    });
    if (res.status !== 207) throw new Error(`multiget answered ${res.status}`);
    return { vcards: seeded.map((c) => c.vcard), xml: await res.text() };
  } finally {
    await emulator.close();
  }
}

function time(fn: () => void): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

async function codecs(p: CodecsParams): Promise<CodecsResult> {
  const { vcards, xml } = await material(p.cards);
  const parsed: VCard[] = vcards.map((v) => parseVCard(v));
  const serialized = parsed.map((c) => serializeVCard(c));
  const contacts = parsed.map((c) => toContact(c));
  const built = contacts.map((c) => fromContact(c));
  const bare = new XMLParser();
  const sameOptions = new XMLParser(FORMER_OPTIONS);
  // A sink the optimizer cannot drop.
  let sink = 0;
  const passes = {
    parse: () => {
      for (const v of vcards) sink += parseVCard(v).properties.length;
    },
    toContact: () => {
      for (const c of parsed) sink += toContact(c).emails?.length ?? 0;
    },
    serialize: () => {
      for (const c of parsed) sink += serializeVCard(c).length;
    },
    fromContact: () => {
      for (const c of contacts) sink += fromContact(c).length;
    },
    xmlOurs: () => {
      sink += parseMultistatus(xml).responses.length;
    },
    xmlBare: () => {
      sink += Object.keys(bare.parse(xml) as object).length;
    },
    xmlSameOptions: () => {
      sink += (sameOptions.parse(xml) as unknown[]).length;
    },
  };
  const samples: Record<keyof typeof passes, number[]> = { parse: [], toContact: [], serialize: [], fromContact: [], xmlOurs: [], xmlBare: [], xmlSameOptions: [] };
  for (const fn of Object.values(passes)) fn(); // warm-up
  for (let rep = 0; rep < p.reps; rep++) {
    // Interleaved, so a GC pause or a busy neighbour hits each codec alike.
    for (const [name, fn] of Object.entries(passes) as [keyof typeof passes, () => void][]) samples[name].push(time(fn));
  }
  if (sink === 0) throw new Error('codec passes produced nothing');
  return {
    cards: vcards.length,
    vcardBytes: vcards.reduce((n, v) => n + Buffer.byteLength(v), 0),
    serializedBytes: serialized.reduce((n, v) => n + Buffer.byteLength(v), 0),
    builtBytes: built.reduce((n, v) => n + Buffer.byteLength(v), 0),
    xmlBytes: Buffer.byteLength(xml),
    parseMs: median(samples.parse),
    toContactMs: median(samples.toContact),
    serializeMs: median(samples.serialize),
    fromContactMs: median(samples.fromContact),
    xmlOursMs: median(samples.xmlOurs),
    xmlBareMs: median(samples.xmlBare),
    xmlSameOptionsMs: median(samples.xmlSameOptions),
    reps: p.reps,
  };
}

serveChild({ codecs });
