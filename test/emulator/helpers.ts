// Shared setup for the emulator tests: one emulator per test on a free port,
// closed when the test finishes (also on failure), and small readers for the
// emulator's multistatus answers. Requests are raw fetch calls on purpose:
// these tests pin the wire behaviour that the CardDAV client will meet.

import { onTestFinished } from 'vitest';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import type { GoogleEmulator, StartGoogleEmulatorOptions } from '../../lib/emulator/index.ts';

export const DAV_NS_DECL = 'xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/"';

export interface Setup {
  emu: GoogleEmulator;
  email: string;
  token: string;
  /** Absolute address book URL. */
  book: string;
  /** fetch with the bearer token; `path` may be a path or an absolute URL. */
  dav(path: string, init?: { method?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Response>;
}

export async function setup(opts: StartGoogleEmulatorOptions = {}, email = 'alice@example.com'): Promise<Setup> {
  const emu = await startGoogleEmulator(opts);
  onTestFinished(() => emu.close());
  emu.addAccount({ email });
  const token = emu.issueAccessToken(email);
  const book = emu.addressBookUrl(email);
  const dav: Setup['dav'] = (path, init = {}) =>
    fetch(path.startsWith('http') ? path : `${emu.url}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, ...init.headers },
      body: init.body,
      redirect: 'manual',
    });
  return { emu, email, token, book, dav };
}

export function propfindBody(...props: string[]): string {
  return `<?xml version="1.0"?><d:propfind ${DAV_NS_DECL}><d:prop>${props.join('')}</d:prop></d:propfind>`;
}

export function syncBody(token: string, props = '<d:getetag/>', extra = ''): string {
  return `<d:sync-collection ${DAV_NS_DECL}><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level>${extra}<d:prop>${props}</d:prop></d:sync-collection>`;
}

export function multigetBody(hrefs: string[], props = '<d:getetag/><card:address-data/>'): string {
  return `<card:addressbook-multiget ${DAV_NS_DECL}><d:prop>${props}</d:prop>${hrefs.map((h) => `<d:href>${h}</d:href>`).join('')}</card:addressbook-multiget>`;
}

export interface DavResponse {
  href: string;
  /** Status of a response without propstat (404 removal, 507 truncation). */
  status: number | undefined;
  /** Property XML by status: 200 -> inner XML of <d:prop>. */
  propstats: Map<number, string>;
  etag: string | undefined;
  addressData: string | undefined;
  error: string | undefined;
}

function unescape(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

export function parseMultistatus(xml: string): { responses: DavResponse[]; syncToken: string | undefined } {
  const responses: DavResponse[] = [];
  for (const m of xml.matchAll(/<d:response>([\s\S]*?)<\/d:response>/g)) {
    const inner = m[1]!;
    const propstats = new Map<number, string>();
    for (const ps of inner.matchAll(/<d:propstat><d:prop>([\s\S]*?)<\/d:prop><d:status>HTTP\/1\.1 (\d+)[^<]*<\/d:status><\/d:propstat>/g)) {
      propstats.set(Number(ps[2]), ps[1]!);
    }
    const ok = propstats.get(200) ?? '';
    const withoutPropstats = inner.replace(/<d:propstat>[\s\S]*?<\/d:propstat>/g, '');
    const status = /<d:status>HTTP\/1\.1 (\d+)/.exec(withoutPropstats)?.[1];
    responses.push({
      href: unescape(/<d:href>([^<]*)<\/d:href>/.exec(inner)![1]!),
      status: status === undefined ? undefined : Number(status),
      propstats,
      etag: /<d:getetag>([^<]*)<\/d:getetag>/.exec(ok)?.[1],
      addressData: (() => {
        const a = /<card:address-data>([\s\S]*?)<\/card:address-data>/.exec(ok)?.[1];
        return a === undefined ? undefined : unescape(a);
      })(),
      error: /<d:error>([\s\S]*?)<\/d:error>/.exec(withoutPropstats)?.[1],
    });
  }
  const token = /<d:sync-token>([^<]*)<\/d:sync-token>(?![\s\S]*<d:response>)/.exec(xml)?.[1];
  return { responses, syncToken: token === undefined ? undefined : unescape(token) };
}

/** PROPFIND Depth 0 on the book for the current sync-token. */
export async function currentSyncToken(s: Setup): Promise<string> {
  const res = await s.dav(s.book, { method: 'PROPFIND', headers: { depth: '0' }, body: propfindBody('<d:sync-token/>') });
  const xml = await res.text();
  const token = /<d:sync-token>([^<]*)<\/d:sync-token>/.exec(xml)?.[1];
  if (!token) throw new Error(`no sync-token in ${xml}`);
  return unescape(token);
}

export async function syncReport(s: Setup, token: string, opts: { depth?: string; extra?: string; props?: string } = {}) {
  const res = await s.dav(s.book, {
    method: 'REPORT',
    headers: { depth: opts.depth ?? '1', 'content-type': 'application/xml' },
    body: syncBody(token, opts.props, opts.extra),
  });
  const text = await res.text();
  return { status: res.status, text, ...parseMultistatus(text) };
}

export const SAMPLE_VCARD = [
  'BEGIN:VCARD',
  'VERSION:3.0',
  'PRODID:-//Example Corp//CRM 1.0//EN',
  'UID:client-chosen-uid-123',
  'N:Doe;Jane;;;',
  'FN:Jane Doe',
  'EMAIL;TYPE=INTERNET,WORK,PREF:jane@example.com',
  'TEL;TYPE=CELL,VOICE:+1 555 0100',
  'TEL;TYPE=X-SATELLITE:+1 555 0199',
  'IMPP;X-SERVICE-TYPE=jabber:xmpp:jane@example.com',
  'item1.TEL:+1 555 0111',
  'item1.X-ABLabel:Assistant',
  'CATEGORIES:VIP,Customers',
  'BDAY:--04-15',
  'END:VCARD',
  '',
].join('\r\n');

export function vcard(fn: string, extra: string[] = []): string {
  return ['BEGIN:VCARD', 'VERSION:3.0', `FN:${fn}`, `N:${fn};;;;`, ...extra, 'END:VCARD', ''].join('\r\n');
}

/** Value of the first vCard property `name` (unfolded). */
export function prop(card: string, name: string): string | undefined {
  const unfolded = card.replace(/\r\n[ \t]/g, '');
  const re = new RegExp(`^${name}(;[^:]*)?:(.*)$`, 'm');
  return re.exec(unfolded)?.[2]?.replace(/\r$/, '');
}

export function lines(card: string, name: string): string[] {
  return card
    .replace(/\r\n[ \t]/g, '')
    .split(/\r\n/)
    .filter((l) => l.startsWith(`${name}:`) || l.startsWith(`${name};`));
}
