import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BridgeError, InvalidContactId } from '../../lib/core/errors.ts';
import { buildContactEvent, contactEventId, eventSource } from '../../lib/core/events/index.ts';
import { contactIdFromHref, hrefFromContactId } from '../../lib/core/ids.ts';

describe('contact ids', () => {
  it('round-trips any absolute href', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (tail) => {
        const href = `/${tail}`;
        const id = contactIdFromHref(href);
        expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(hrefFromContactId(id)).toBe(href);
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  it('round-trips a Google href', () => {
    const href = '/carddav/v1/principals/alice@example.com/lists/default/7b8f3a2c0e1d';
    expect(hrefFromContactId(contactIdFromHref(href))).toBe(href);
  });

  it.each([
    ['empty', ''],
    ['padding', 'L2E='],
    ['standard base64 characters', 'L2+/'],
    ['non-canonical trailing bits', 'L2F'],
    ['a relative href', contactIdFromHref('a/b')],
    ['bytes that are not UTF-8', Buffer.from([0x2f, 0xff, 0xfe]).toString('base64url')],
    ['too long', 'A'.repeat(10_000)],
  ])('rejects %s', (_what, id) => {
    expect(() => hrefFromContactId(id)).toThrow(InvalidContactId);
    expect(() => hrefFromContactId(id)).toThrow(BridgeError);
  });
});

describe('events', () => {
  const base = { connectionId: 'c1', href: '/ab/c1', etag: '"1"', type: 'contact.updated' } as const;

  it('ids are deterministic and differ when any part differs', () => {
    const id = contactEventId(base);
    expect(contactEventId({ ...base })).toBe(id);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const variants = [
      { ...base, connectionId: 'c2' },
      { ...base, href: '/ab/c2' },
      { ...base, etag: '"2"' },
      { ...base, type: 'contact.created' as const },
      // Parts that would collide if merely concatenated.
      { ...base, connectionId: 'c1/ab', href: '/c1' },
    ];
    for (const v of variants) expect(contactEventId(v)).not.toBe(id);
  });

  it('builds a CloudEvents 1.0 envelope with the contact data', () => {
    const e = buildContactEvent({
      type: 'contact.created',
      time: Date.UTC(2025, 0, 2, 3, 4, 5),
      tenantId: 't1',
      connectionId: 'c 1',
      href: '/ab/x',
      etag: '"e"',
      uid: 'u',
      vcard: 'BEGIN:VCARD',
      origin: { kind: 'remote' },
    });
    expect(e).toEqual({
      specversion: '1.0',
      id: contactEventId({ connectionId: 'c 1', href: '/ab/x', etag: '"e"', type: 'contact.created' }),
      source: 'carddav-bridge:connection/c%201',
      type: 'contact.created',
      subject: contactIdFromHref('/ab/x'),
      time: '2025-01-02T03:04:05.000Z',
      datacontenttype: 'application/json',
      dataversion: '1',
      data: { tenantId: 't1', connectionId: 'c 1', href: '/ab/x', contactId: contactIdFromHref('/ab/x'), etag: '"e"', uid: 'u', vcard: 'BEGIN:VCARD', origin: { kind: 'remote' } },
    });
    expect(eventSource('c 1')).toBe(e.source);
  });
});
