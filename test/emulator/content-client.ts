// The project's CardDAV client (lib/carddav) against an emulator over
// loopback, for the card-content tests: what a bridge write meets on Google.
// Raw error bodies are recorded from the real responses, because the client
// keeps only an excerpt.

import { bearerAuth, createCardDavClient } from '../../lib/carddav/index.ts';
import type { CardDavClient } from '../../lib/carddav/index.ts';
import type { StartGoogleEmulatorOptions } from '../../lib/emulator/index.ts';
import { setup } from './helpers.ts';
import type { Setup } from './helpers.ts';

/** Google's catch-all 400, byte for byte (TbSync #451; nametag bd71618). */
export const INVALID_ARGUMENT_BODY = '{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}';

export interface ContentSetup extends Setup {
  client: CardDavClient;
  /** Bodies of every non-2xx answer, in order. */
  errorBodies: string[];
  /** POST a card; the stored card as a GET returns it. */
  create(vcard: string): Promise<{ href: string; id: string; vcard: string; etag: string }>;
  read(href: string): Promise<string>;
}

export async function contentSetup(opts: StartGoogleEmulatorOptions = {}): Promise<ContentSetup> {
  const s = await setup(opts);
  const errorBodies: string[] = [];
  const client = createCardDavClient({
    auth: bearerAuth({ getAccessToken: async () => s.token }),
    retry: { retries: 0 },
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      if (res.status >= 400) errorBodies.push(await res.clone().text());
      return res;
    },
  });
  const read = async (href: string) => (await client.get({ href, addressBookUrl: s.book })).vcard;
  return {
    ...s,
    client,
    errorBodies,
    read,
    async create(vcard) {
      const { href } = await client.post({ addMemberUrl: s.book, vcard });
      // Google answers a create with its Location; a client that could not place the card is a failure here.
      if (href === undefined) throw new Error('POST answered without a usable Location');
      const card = await client.get({ href, addressBookUrl: s.book });
      return { href, id: href.split('/').pop()!, vcard: card.vcard, etag: card.etag };
    },
  };
}

/** A vCard 3.0 from content lines (BEGIN, VERSION and END added). */
export function card(...content: string[]): string {
  return ['BEGIN:VCARD', 'VERSION:3.0', ...content, 'END:VCARD', ''].join('\r\n');
}

/** Unfolded content lines (CRLF from GET, LF from address-data once XML has normalized it). */
export function contentLines(vcard: string): string[] {
  return vcard.replace(/\r?\n[ \t]/g, '').split(/\r?\n/);
}

/** Unfolded content lines whose name (with group) is `name`. */
export function named(vcard: string, name: string): string[] {
  return contentLines(vcard)
    .filter((l) => l.toUpperCase().startsWith(`${name.toUpperCase()}:`) || l.toUpperCase().startsWith(`${name.toUpperCase()};`));
}
