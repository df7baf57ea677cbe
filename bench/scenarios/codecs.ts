// codecs: throughput of the vCard codec (parse, toContact, serialize) on the
// emulator's generated book, and of lib/carddav's multistatus parser beside
// fast-xml-parser's bare parse of the same bytes (the floor: what the library
// under ours costs without our well-formedness check, entity rules and
// namespace resolution). Run in a child, apart from the runner's heap.
import { runInFreshChild } from '../lib/child.ts';
import { figure, MIB } from '../lib/report.ts';
import type { Scenario } from '../lib/scenario.ts';
import type { CodecsResult } from '../workers/codecs-worker.ts';

const CARDS = 5_000;
const REPS = 7;
const WORKER = new URL('../workers/codecs-worker.ts', import.meta.url);

export const codecs: Scenario = {
  name: 'codecs',
  summary: `vCard parse/toContact/serialize and multistatus parse throughput on ${CARDS.toLocaleString('en-US')} generated cards (median of ${REPS})`,
  async run(ctx) {
    const { value: r } = await runInFreshChild<CodecsResult>(WORKER, 'codecs', { cards: CARDS, reps: REPS });
    ctx.log(`${r.cards} cards, ${(r.vcardBytes / MIB).toFixed(2)} MiB of vCards; multistatus of all of them ${(r.xmlBytes / MIB).toFixed(2)} MiB`);
    const perS = (ms: number): number => r.cards / (ms / 1000);
    const mbS = (bytes: number, ms: number): number => bytes / MIB / (ms / 1000);

    ctx.emit(figure({ name: 'codecs.vcard-parse', value: perS(r.parseMs), unit: 'cards/s', note: `${mbS(r.vcardBytes, r.parseMs).toFixed(1)} MB/s` }));
    ctx.emit(figure({ name: 'codecs.vcard-parse.mb', value: mbS(r.vcardBytes, r.parseMs), unit: 'MB/s' }));
    ctx.emit(figure({ name: 'codecs.vcard-to-contact', value: perS(r.toContactMs), unit: 'cards/s', note: 'from parsed cards' }));
    ctx.emit(
      figure({ name: 'codecs.vcard-serialize', value: perS(r.serializeMs), unit: 'cards/s', note: 'unchanged parsed cards: original lines re-emitted' }),
    );
    ctx.emit(figure({ name: 'codecs.vcard-serialize.mb', value: mbS(r.serializedBytes, r.serializeMs), unit: 'MB/s' }));
    ctx.emit(figure({ name: 'codecs.vcard-from-contact', value: perS(r.fromContactMs), unit: 'cards/s', note: 'vCard built from a normalized contact' }));
    ctx.emit(figure({ name: 'codecs.vcard-from-contact.mb', value: mbS(r.builtBytes, r.fromContactMs), unit: 'MB/s' }));
    ctx.emit(
      figure({
        name: 'codecs.xml-multistatus',
        value: mbS(r.xmlBytes, r.xmlOursMs),
        unit: 'MB/s',
        ratio: { against: 'fast-xml-parser bare (time)', value: r.xmlOursMs / r.xmlBareMs },
        note: `${r.xmlOursMs.toFixed(1)} ms vs ${r.xmlBareMs.toFixed(1)} ms per document`,
      }),
    );
    ctx.emit(figure({ name: 'codecs.xml-fast-xml-parser-bare', value: mbS(r.xmlBytes, r.xmlBareMs), unit: 'MB/s', note: 'default options' }));
    ctx.emit(
      figure({
        name: 'codecs.xml-fast-xml-parser-same-options',
        value: mbS(r.xmlBytes, r.xmlSameOptionsMs),
        unit: 'MB/s',
        ratio: { against: 'fast-xml-parser bare (time)', value: r.xmlSameOptionsMs / r.xmlBareMs },
        note: 'the options lib/carddav gave it before its own one-pass reader (lib/carddav/xml-reader.ts)',
      }),
    );
    return { details: { ...r } };
  },
};
