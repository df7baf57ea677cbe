// Input rules shared by the API's paths: control characters (one rule for a
// vCard sent as text/vcard and for a JSON contact), contact ids (the write
// applier's own book-member rule), and a client that goes away mid-body.
import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bookMember } from '../../lib/carddav/href.ts';
import { BOOK_PATH, connect, contactIdOf, harness, KEY_A, problemOf, type Harness } from './fakes.ts';

async function setup(): Promise<{ h: Harness; id: string; base: string }> {
  const h = harness();
  const id = await connect(h);
  return { h, id, base: `/v1/connections/${id}/contacts` };
}

function expectNothingQueued(h: Harness): void {
  expect(h.queue.messages).toEqual([]);
  expect(h.writes.records.size).toBe(0);
}

const vcardWith = (fn: string) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ctl-1\r\nFN:${fn}\r\nEND:VCARD\r\n`;

describe('control characters: one rule for text/vcard and JSON', () => {
  const FORBIDDEN = ['\u0000', '\u0001', '\u0007', '\u0008', '\u000B', '\u000C', '\u001B', '\u001F', '\u007F'];

  it.each(FORBIDDEN.map((c) => [`U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`, c]))('%s is refused on both paths', async (name, char) => {
    const { h, base } = await setup();
    const vcard = await h.call(base, { method: 'POST', vcard: vcardWith(`Ada${char}Lovelace`) });
    expect(vcard.status).toBe(400);
    const problem = await problemOf(vcard);
    expect(problem.type).toBe('https://carddav-bridge.dev/problems/invalid-vcard');
    expect(problem.detail).toContain(name);
    expect(problem.detail).toMatch(/Line 4/);
    const json = await h.call(base, { method: 'POST', json: { fullName: `Ada${char}Lovelace` } });
    expect(json.status).toBe(400);
    expect((await problemOf(json)).errors).toEqual([expect.objectContaining({ pointer: '/fullName' })]);
    expectNothingQueued(h);
  });

  it('a CR that does not end a line is refused in vCard text', async () => {
    const { h, base } = await setup();
    const res = await h.call(base, { method: 'POST', vcard: vcardWith('Ada\rLovelace') });
    expect(res.status).toBe(400);
    expect((await problemOf(res)).detail).toMatch(/U\+000D/);
    expectNothingQueued(h);
  });

  it('TAB in a value, and CRLF or bare LF line ends, are accepted', async () => {
    const { h, base } = await setup();
    expect((await h.call(base, { method: 'POST', vcard: vcardWith('Ada\tLovelace') })).status).toBe(202);
    expect((await h.call(base, { method: 'POST', vcard: vcardWith('Ada').replaceAll('\r\n', '\n') })).status).toBe(202);
    expect((await h.call(base, { method: 'POST', json: { fullName: 'Ada\tLovelace', note: 'two\nlines' } })).status).toBe(202);
  });
});

describe('contact ids: what cannot name a card of the book is refused at the API', () => {
  const BAD = [
    `${BOOK_PATH}%252e%252e/etc/passwd`,
    `${BOOK_PATH}%252e%252e`,
    `${BOOK_PATH}%2e%2e/x.vcf`,
    `${BOOK_PATH}..`,
    `${BOOK_PATH}a%2fb.vcf`,
    `${BOOK_PATH}a%2F..%2F..%2Fx`,
    `${BOOK_PATH}a%5c..%5cb.vcf`,
    `${BOOK_PATH}x%00.vcf`,
    `${BOOK_PATH}x.vcf?query=1`,
  ];

  it.each(BAD)('%s: 400 invalid-contact-id, nothing queued, and the applier rule agrees', async (href) => {
    const { h, base } = await setup();
    const res = await h.call(`${base}/${contactIdOf(href)}`, { method: 'DELETE', headers: { 'If-Match': '*' } });
    expect(res.status).toBe(400);
    expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/invalid-contact-id');
    expectNothingQueued(h);
    expect(bookMember({ addressBookUrl: `https://dav.example.com${BOOK_PATH}`, href })).toMatchObject({ refused: 'not-a-path' });
  });

  it('a path below a member, or the book itself, is not a card of the book: 404', async () => {
    const { h, base } = await setup();
    for (const href of [`${BOOK_PATH}sub/x.vcf`, BOOK_PATH]) {
      const res = await h.call(`${base}/${contactIdOf(href)}`, { method: 'DELETE', headers: { 'If-Match': '*' } });
      expect(res.status, href).toBe(404);
    }
    expectNothingQueued(h);
  });

  it('ordinary member names are accepted, escapes included', async () => {
    const { h, base } = await setup();
    for (const href of [`${BOOK_PATH}ada-1.vcf`, `${BOOK_PATH}a%40b.vcf`, `${BOOK_PATH}%C3%BC.vcf`, `${BOOK_PATH}c%20d.vcf`]) {
      const res = await h.call(`${base}/${contactIdOf(href)}`, { method: 'DELETE', headers: { 'If-Match': '*' } });
      expect(res.status, href).toBe(202);
    }
  });
});

describe('a client that aborts mid-body', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** Sends the headers and part of the body over a real socket, then closes it. */
  async function abortMidBody(port: number, params: { path: string; contentType: string; idempotencyKey?: string }): Promise<void> {
    const socket = netConnect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const headers = [
      `POST ${params.path} HTTP/1.1`,
      'Host: 127.0.0.1',
      `Authorization: Bearer ${KEY_A}`,
      `Content-Type: ${params.contentType}`,
      'Content-Length: 4000',
      ...(params.idempotencyKey ? [`Idempotency-Key: ${params.idempotencyKey}`] : []),
    ];
    socket.write(`${headers.join('\r\n')}\r\n\r\n${params.contentType === 'text/vcard' ? 'BEGIN:VCARD\r\nVERSION:3.0\r\n' : '{"fullName":"Ad'}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
  }

  it('is logged as an aborted request, not as an unhandled error, and queues nothing', async () => {
    const { h, base } = await setup();
    server = createAdaptorServer({ fetch: h.app.fetch }) as Server;
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;

    await abortMidBody(port, { path: base, contentType: 'text/vcard' });
    await abortMidBody(port, { path: base, contentType: 'application/json', idempotencyKey: 'abort-1' });
    const deadline = Date.now() + 5_000;
    while (h.logger.entries.filter((e) => e.message === 'client aborted the request').length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    expect(h.logger.entries.filter((e) => e.level === 'error')).toEqual([]);
    const aborted = h.logger.entries.filter((e) => e.message === 'client aborted the request');
    expect(aborted.map((e) => [e.level, e.fields?.method, e.fields?.path])).toEqual([
      ['info', 'POST', base],
      ['info', 'POST', base],
    ]);
    expectNothingQueued(h);
    // The key was never taken (or was released): the client may retry with it.
    expect(h.idempotency.records.size).toBe(0);
  });
});
