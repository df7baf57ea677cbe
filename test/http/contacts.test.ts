import { describe, expect, it } from 'vitest';
import { fromContact, parseVCard, toContact } from '../../lib/vcard/index.ts';
import { BOOK_PATH, CARD, connect, contactIdOf, harness, jsonOf, problemOf, type Harness } from './fakes.ts';

const HREF = `${BOOK_PATH}ada-1.vcf`;
const CONTACT_ID = contactIdOf(HREF);

async function setup(options: Parameters<typeof harness>[0] = {}): Promise<{ h: Harness; id: string; base: string }> {
  const h = harness(options);
  const id = await connect(h);
  return { h, id, base: `/v1/connections/${id}/contacts` };
}

function expectNothingQueued(h: Harness): void {
  expect(h.queue.messages).toEqual([]);
  expect(h.writes.records.size).toBe(0);
}

describe('contact writes: happy paths', () => {
  it('POST text/vcard queues a create and answers 202 with Location', async () => {
    const { h, id, base } = await setup();
    const res = await h.call(base, { method: 'POST', vcard: CARD });
    expect(res.status).toBe(202);
    expect(await jsonOf(res)).toEqual({ writeId: 'wr_0001', status: 'queued' });
    expect(res.headers.get('location')).toBe('/v1/writes/wr_0001');
    expect(h.queue.messages).toEqual([{ tenantId: 'ten_a', connectionId: id, writeId: 'wr_0001' }]);
    expect(h.writes.records.get('wr_0001')).toEqual({
      writeId: 'wr_0001',
      tenantId: 'ten_a',
      connectionId: id,
      status: 'queued',
      operation: { kind: 'create', vcard: CARD },
      createdAt: '2025-03-01T12:00:00.000Z',
      updatedAt: '2025-03-01T12:00:00.000Z',
      attempts: 0,
      // Seven days, in epoch seconds (DynamoDB TTL).
      expiresAt: Date.parse('2025-03-08T12:00:00.000Z') / 1000,
    });
    expect(await jsonOf(await h.call('/v1/writes/wr_0001'))).toMatchObject({ operation: 'create', status: 'queued', uid: 'ada-1' });
  });

  it('POST application/json queues a create of the normalized contact', async () => {
    const { h, base } = await setup();
    const contact = {
      fullName: 'Grace Hopper',
      name: { family: 'Hopper', given: 'Grace' },
      emails: [{ value: 'grace@example.com', type: 'work', pref: true }],
      phones: [{ value: '+1 555 0100', type: 'cell', label: 'Navy line' }],
      birthday: { year: 1906, month: 12, day: 9 },
      organization: { name: 'US Navy', units: ['Computing'] },
    };
    const res = await h.call(base, { method: 'POST', json: contact });
    expect(res.status).toBe(202);
    const { writeId } = await jsonOf(res);
    // Queued as the vCard it makes, with a UID from the write id: the applier writes vCards only.
    const operation = h.writes.records.get(writeId)?.operation;
    expect(operation).toEqual({ kind: 'create', vcard: fromContact(contact, { uid: `carddav-bridge-${writeId}` }) });
    expect(toContact(parseVCard(operation?.kind === 'create' ? operation.vcard : ''))).toMatchObject({ ...contact, uid: `carddav-bridge-${writeId}` });
    expect(h.queue.messages).toHaveLength(1);

    // A contact with its own UID keeps it.
    const own = await h.call(base, { method: 'POST', json: { ...contact, uid: 'grace-1' } });
    const ownId = (await jsonOf(own)).writeId;
    expect(h.writes.records.get(ownId)?.operation).toEqual({ kind: 'create', vcard: fromContact({ ...contact, uid: 'grace-1' }) });
  });

  it('PUT queues an update with If-Match and the href the contact id names', async () => {
    const { h, base } = await setup();
    const res = await h.call(`${base}/${CONTACT_ID}`, { method: 'PUT', vcard: CARD, headers: { 'If-Match': '"etag-7"' } });
    expect(res.status).toBe(202);
    const { writeId } = await jsonOf(res);
    expect(h.writes.records.get(writeId)).toMatchObject({ status: 'queued', operation: { kind: 'update', href: HREF, ifMatch: '"etag-7"', vcard: CARD } });
  });

  it('PUT accepts If-Match: *', async () => {
    const { h, base } = await setup();
    const res = await h.call(`${base}/${CONTACT_ID}`, { method: 'PUT', vcard: CARD, headers: { 'If-Match': '*' } });
    expect(res.status).toBe(202);
    expect(h.writes.records.get('wr_0001')?.operation).toMatchObject({ ifMatch: '*' });
  });

  it('PATCH queues the named fields, null removing one; If-Match optional', async () => {
    const { h, base } = await setup();
    const patch = { note: null, phones: [{ value: '+44 20 7946 0000', type: 'work' }] };
    const res = await h.call(`${base}/${CONTACT_ID}`, { method: 'PATCH', json: patch });
    expect(res.status).toBe(202);
    expect(h.writes.records.get('wr_0001')?.operation).toEqual({ kind: 'patch', href: HREF, patch });
    const withIfMatch = await h.call(`${base}/${CONTACT_ID}`, { method: 'PATCH', json: { title: 'Countess' }, headers: { 'If-Match': 'W/"5"' } });
    expect(withIfMatch.status).toBe(202);
    expect(h.writes.records.get('wr_0002')?.operation).toEqual({ kind: 'patch', href: HREF, ifMatch: 'W/"5"', patch: { title: 'Countess' } });
    const mergePatch = await h.call(`${base}/${CONTACT_ID}`, {
      method: 'PATCH',
      body: JSON.stringify({ nickname: 'Ada' }),
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    expect(mergePatch.status).toBe(202);
  });

  it('DELETE queues a delete', async () => {
    const { h, base } = await setup();
    const res = await h.call(`${base}/${CONTACT_ID}`, { method: 'DELETE', headers: { 'If-Match': '"etag-7"' } });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe('/v1/writes/wr_0001');
    expect(h.writes.records.get('wr_0001')?.operation).toEqual({ kind: 'delete', href: HREF, ifMatch: '"etag-7"' });
    expect(h.queue.messages).toHaveLength(1);
  });
});

describe('GET /v1/writes/{writeId}', () => {
  it('shows a queued write, then what the applier recorded', async () => {
    const { h, id, base } = await setup();
    const res = await h.call(`${base}/${CONTACT_ID}`, { method: 'DELETE', headers: { 'If-Match': '"e1"' } });
    const location = res.headers.get('location') ?? '';
    const queued = await h.call(location);
    expect(queued.status).toBe(200);
    expect(await jsonOf(queued)).toEqual({
      writeId: 'wr_0001',
      connectionId: id,
      operation: 'delete',
      status: 'queued',
      href: HREF,
      contactId: CONTACT_ID,
      createdAt: '2025-03-01T12:00:00.000Z',
      updatedAt: '2025-03-01T12:00:00.000Z',
    });

    const record = h.writes.records.get('wr_0001');
    if (record === undefined) throw new Error('no record');
    Object.assign(record, { status: 'conflict', conflict: { etag: '"e2"', vcard: CARD, reason: 'stale' }, updatedAt: '2025-03-01T12:00:03.000Z' });
    expect(await jsonOf(await h.call(location))).toMatchObject({ status: 'conflict', conflict: { reason: 'stale', etag: '"e2"', vcard: CARD } });

    // A card that is gone has no current version to show.
    Object.assign(record, { conflict: { reason: 'gone' } });
    expect((await jsonOf(await h.call(location))).conflict).toEqual({ reason: 'gone' });

    Object.assign(record, { status: 'failed', error: { type: 'server-rejected', message: '403 from server' } });
    delete record.conflict;
    expect(await jsonOf(await h.call(location))).toMatchObject({ status: 'failed', error: { type: 'server-rejected', message: '403 from server' } });
  });

  it('an applied create shows href, contactId, etag and uid', async () => {
    const { h, base } = await setup();
    await h.call(base, { method: 'POST', vcard: CARD });
    const record = h.writes.records.get('wr_0001');
    if (record === undefined) throw new Error('no record');
    Object.assign(record, { status: 'applied', result: { href: HREF, etag: '"new"', uid: 'ada-1', contactId: CONTACT_ID } });
    expect(await jsonOf(await h.call('/v1/writes/wr_0001'))).toMatchObject({
      operation: 'create',
      status: 'applied',
      href: HREF,
      contactId: CONTACT_ID,
      etag: '"new"',
      uid: 'ada-1',
    });
  });

  it('an unknown write is a 404 problem', async () => {
    const h = harness();
    const res = await h.call('/v1/writes/wr_9999');
    expect(res.status).toBe(404);
    expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/not-found');
  });
});

describe('contact writes: bad input gets a 4xx problem and nothing is queued', () => {
  it('a malformed vCard names the line', async () => {
    const { h, base } = await setup();
    const res = await h.call(base, { method: 'POST', vcard: 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN Ada\r\nEND:VCARD\r\n' });
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect(problem.type).toBe('https://carddav-bridge.dev/problems/invalid-vcard');
    expect(problem.detail).toContain('line 3');
    expect(problem.errors).toEqual([expect.objectContaining({ line: 3 })]);
    const put = await h.call(`${base}/${CONTACT_ID}`, { method: 'PUT', vcard: 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\n', headers: { 'If-Match': '*' } });
    expect(put.status).toBe(400);
    expect((await problemOf(put)).type).toBe('https://carddav-bridge.dev/problems/invalid-vcard');
    expectNothingQueued(h);
  });

  it('PUT and DELETE without If-Match are 428', async () => {
    const { h, base } = await setup();
    const put = await h.call(`${base}/${CONTACT_ID}`, { method: 'PUT', vcard: CARD });
    expect(put.status).toBe(428);
    expect((await problemOf(put)).type).toBe('https://carddav-bridge.dev/problems/precondition-required');
    const del = await h.call(`${base}/${CONTACT_ID}`, { method: 'DELETE' });
    expect(del.status).toBe(428);
    expectNothingQueued(h);
  });

  it('an If-Match list is a 400 naming the header', async () => {
    const { h, base } = await setup();
    const res = await h.call(`${base}/${CONTACT_ID}`, { method: 'DELETE', headers: { 'If-Match': '"a", "b"' } });
    expect(res.status).toBe(400);
    expect((await problemOf(res)).errors).toEqual([expect.objectContaining({ header: 'If-Match' })]);
    expectNothingQueued(h);
  });

  it('unknown fields are rejected with a pointer to each', async () => {
    const { h, base } = await setup();
    const res = await h.call(base, { method: 'POST', json: { fullName: 'Ada', emails: [{ value: 'a@example.com', kind: 'x' }], color: 'red' } });
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect(problem.type).toBe('https://carddav-bridge.dev/problems/validation');
    expect((problem.errors ?? []).map((e) => e.pointer).sort()).toEqual(['/color', '/emails/0/kind']);
    const patch = await h.call(`${base}/${CONTACT_ID}`, { method: 'PATCH', json: { uid: 'x' } });
    expect(patch.status).toBe(400);
    expect((await problemOf(patch)).errors).toEqual([{ pointer: '/uid', detail: 'unknown field' }]);
    expectNothingQueued(h);
  });

  it('field limits and values are checked with the exact field', async () => {
    const { h, base } = await setup();
    const cases: [unknown, string][] = [
      [{ fullName: 'x'.repeat(257) }, '/fullName'],
      [{ fullName: 'Ada', emails: Array.from({ length: 51 }, (_, i) => ({ value: `a${i}@example.com` })) }, '/emails'],
      [{ fullName: 'Ada', birthday: { month: 2, day: 30 } }, '/birthday/day'],
      [{ fullName: 'Ada', phones: [{ value: '1', type: 'Work Phone' }] }, '/phones/0/type'],
      [{ fullName: 'Line\nbreak' }, '/fullName'],
      [{ note: 'no name at all' }, ''],
      // Valid to the schema, refused by the vCard builder: Apple's "no year" marker.
      [{ fullName: 'Ada', birthday: { year: 1604, month: 1, day: 2 } }, '/birthday/year'],
    ];
    for (const [json, pointer] of cases) {
      const res = await h.call(base, { method: 'POST', json });
      expect(res.status, JSON.stringify(json).slice(0, 80)).toBe(400);
      expect((await problemOf(res)).errors?.map((e) => e.pointer)).toContain(pointer);
    }
    const empty = await h.call(`${base}/${CONTACT_ID}`, { method: 'PATCH', json: {} });
    expect(empty.status).toBe(400);
    expectNothingQueued(h);
  });

  it('a body over the limit is a 413 problem; so is a vCard over the vCard limit', async () => {
    const { h, base } = await setup({ config: { maxBodyBytes: 4096, maxVCardBytes: 1024 } });
    const huge = await h.call(base, { method: 'POST', json: { fullName: 'Ada', note: 'x'.repeat(5000) } });
    expect(huge.status).toBe(413);
    expect((await problemOf(huge)).type).toBe('https://carddav-bridge.dev/problems/payload-too-large');
    const bigCard = CARD.replace('END:VCARD', `NOTE:${'y'.repeat(2000)}\r\nEND:VCARD`);
    const card = await h.call(base, { method: 'POST', vcard: bigCard });
    expect(card.status).toBe(413);
    expect((await problemOf(card)).type).toBe('https://carddav-bridge.dev/problems/vcard-too-large');
    const json = await h.call(base, { method: 'POST', json: { fullName: 'Ada', note: 'z'.repeat(2000) } });
    expect(json.status).toBe(413);
    expect((await problemOf(json)).type).toBe('https://carddav-bridge.dev/problems/vcard-too-large');
    expectNothingQueued(h);
  });

  it('the default body limit is 256 KiB', async () => {
    const { h, base } = await setup();
    const res = await h.call(base, { method: 'POST', vcard: 'x'.repeat(256 * 1024 + 1) });
    expect(res.status).toBe(413);
    expectNothingQueued(h);
  });

  it('a wrong content type is a 415 problem', async () => {
    const { h, base } = await setup();
    const post = await h.call(base, { method: 'POST', body: CARD, headers: { 'Content-Type': 'text/plain' } });
    expect(post.status).toBe(415);
    expect((await problemOf(post)).type).toBe('https://carddav-bridge.dev/problems/unsupported-media-type');
    const none = await h.call(base, { method: 'POST', body: CARD });
    expect(none.status).toBe(415);
    const put = await h.call(`${base}/${CONTACT_ID}`, { method: 'PUT', json: { fullName: 'Ada' }, headers: { 'If-Match': '*' } });
    expect(put.status).toBe(415);
    const patch = await h.call(`${base}/${CONTACT_ID}`, { method: 'PATCH', vcard: CARD });
    expect(patch.status).toBe(415);
    expectNothingQueued(h);
  });

  it('a contact id that does not decode to an absolute path is a 400', async () => {
    const { h, base } = await setup();
    for (const bad of ['not*base64', contactIdOf('relative/path.vcf'), `${contactIdOf(HREF)}==`, contactIdOf(`${BOOK_PATH}../../etc/x`)]) {
      const res = await h.call(`${base}/${encodeURIComponent(bad)}`, { method: 'DELETE', headers: { 'If-Match': '*' } });
      expect(res.status, bad).toBe(400);
      const problem = await problemOf(res);
      expect(problem.type).toBe('https://carddav-bridge.dev/problems/invalid-contact-id');
      expect(problem.errors).toEqual([expect.objectContaining({ parameter: 'contactId' })]);
    }
    expectNothingQueued(h);
  });

  it("a contact outside the connection's address book is not found", async () => {
    const { h, base } = await setup();
    const res = await h.call(`${base}/${contactIdOf('/dav/addressbooks/eve/contacts/x.vcf')}`, { method: 'DELETE', headers: { 'If-Match': '*' } });
    expect(res.status).toBe(404);
    expectNothingQueued(h);
  });

  it('a write to an unknown connection is a 404', async () => {
    const h = harness();
    const res = await h.call('/v1/connections/con_9999/contacts', { method: 'POST', vcard: CARD });
    expect(res.status).toBe(404);
    expectNothingQueued(h);
  });
});
