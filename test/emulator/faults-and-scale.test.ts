import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { multigetBody, parseMultistatus, prop, propfindBody, setup } from './helpers.ts';

const DEPTH0 = { method: 'PROPFIND', headers: { depth: '0' }, body: propfindBody('<d:displayname/>') };

describe('fault injection', () => {
  it('answers the given status with Retry-After and a Google error body on every matching request', async () => {
    const s = await setup();
    s.emu.setFaults({ status: 429, retryAfterSeconds: 7 });
    const res = await s.dav(s.book, DEPTH0);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toMatchObject({ error: { code: 429, status: 'RESOURCE_EXHAUSTED' } });
    s.emu.setFaults({ status: 403 }); // throttling as 403 with a usage-limit reason
    const forbidden = (await (await s.dav(s.book, DEPTH0)).json()) as { error: { errors: { reason: string }[] } };
    expect(forbidden.error.errors[0]!.reason).toBe('rateLimitExceeded');
    s.emu.setFaults(undefined);
    expect((await s.dav(s.book, DEPTH0)).status).toBe(207);
    expect(s.emu.stats.faults).toBe(2);
  });

  it('consumes a sequence, one entry per request, then stops', async () => {
    const s = await setup();
    s.emu.setFaults({ status: 503, sequence: [true, false, true] });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await s.dav(s.book, DEPTH0)).status);
    expect(statuses).toEqual([503, 207, 503, 207, 207]);
  });

  it('faults a seeded share of requests, the same ones for the same seed', async () => {
    const s = await setup();
    const run = async () => {
      s.emu.setFaults({ status: 500, share: 0.3, seed: 42 });
      const out: number[] = [];
      for (let i = 0; i < 40; i++) out.push((await s.dav(s.book, DEPTH0)).status);
      return out;
    };
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    const faulted = first.filter((x) => x === 500).length;
    expect(faulted).toBeGreaterThan(4);
    expect(faulted).toBeLessThan(24);
  });

  it('only hits the listed methods', async () => {
    const s = await setup();
    const [card] = s.emu.seed(s.email, 1);
    s.emu.setFaults({ status: 503, methods: ['report'] });
    expect((await s.dav(s.book, DEPTH0)).status).toBe(207);
    expect((await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: multigetBody([card!.href]) })).status).toBe(503);
  });

  it('delays answers', async () => {
    const s = await setup();
    s.emu.setFaults({ delayMs: 150 });
    const started = performance.now();
    expect((await s.dav(s.book, DEPTH0)).status).toBe(207);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('drops the connection', async () => {
    const s = await setup();
    s.emu.setFaults({ drop: true, sequence: [true] });
    await expect(s.dav(s.book, DEPTH0)).rejects.toThrow();
    expect((await s.dav(s.book, DEPTH0)).status).toBe(207);
  });

  it('targets CardDAV by default, the OAuth endpoints on request', async () => {
    const s = await setup();
    const { refreshToken } = s.emu.addAccount({ email: s.email });
    const refresh = () =>
      fetch(s.emu.tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }) });
    s.emu.setFaults({ status: 503 });
    expect((await refresh()).status).toBe(200);
    s.emu.setFaults({ status: 503, target: 'oauth' });
    expect((await refresh()).status).toBe(503);
    expect((await s.dav(s.book, DEPTH0)).status).toBe(207);
  });

  it('rejects a share outside 0..1', async () => {
    const s = await setup();
    expect(() => s.emu.setFaults({ status: 500, share: 2 })).toThrow(RangeError);
  });
});

describe('stats', () => {
  it('counts requests by method and resets', async () => {
    const s = await setup();
    await s.dav(s.book, DEPTH0);
    await s.dav(s.book, DEPTH0);
    await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: multigetBody(['/x']) });
    expect(s.emu.stats).toEqual({ requests: 3, byMethod: { PROPFIND: 2, REPORT: 1 }, faults: 0, failed: 0 });
    s.emu.resetStats();
    expect(s.emu.stats.requests).toBe(0);
  });
});

describe('robustness', () => {
  it('survives garbage on the socket and keeps serving', async () => {
    const s = await setup();
    await new Promise<void>((resolve) => {
      const socket = connect(s.emu.port, '127.0.0.1', () => socket.end('THIS IS NOT HTTP\r\n\r\n'));
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
      socket.resume();
    });
    expect((await s.dav(s.book, DEPTH0)).status).toBe(207);
  });

  it('a client that disconnects mid-body does not crash the server', async () => {
    const s = await setup();
    await new Promise<void>((resolve) => {
      const socket = connect(s.emu.port, '127.0.0.1', () => {
        socket.write(`PUT ${new URL(s.book).pathname}x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nBEGIN:VC`);
        setTimeout(() => socket.destroy(), 20);
      });
      socket.on('close', () => resolve());
    });
    expect((await s.dav(s.book, DEPTH0)).status).toBe(207);
  });
});

describe('seeding', () => {
  it('generates realistic Google-shaped contacts, deterministic for a seed', async () => {
    const s = await setup();
    s.emu.addAccount({ email: 'bob@example.com' });
    const cards = s.emu.seed(s.email, 300, { seed: 5, photoShare: 0.2 });
    const again = s.emu.seed('bob@example.com', 300, { seed: 5, photoShare: 0.2 });
    // Same content apart from ids (ids are unique across the emulator).
    const strip = (v: string) => v.replace(/^UID:.*$/m, '');
    expect(again.map((c) => strip(c.vcard))).toEqual(cards.map((c) => strip(c.vcard)));
    expect(new Set([...cards, ...again].map((c) => c.id)).size).toBe(600);

    const all = cards.map((c) => c.vcard).join('\n');
    const share = (re: RegExp) => cards.filter((c) => re.test(c.vcard)).length / cards.length;
    expect(share(/^EMAIL[;:]|^item\d+\.EMAIL[;:]/m)).toBe(1);
    expect(cards.some((c) => (c.vcard.match(/EMAIL[;:]/g) ?? []).length >= 2)).toBe(true);
    expect(cards.some((c) => (c.vcard.match(/TEL[;:]/g) ?? []).length >= 2)).toBe(true);
    expect(share(/^ADR;TYPE=/m)).toBeGreaterThan(0.3);
    expect(all).toMatch(/^item\d+\.X-ABLabel:/m);
    expect(share(/^ORG:/m)).toBeGreaterThan(0.3);
    expect(all).toMatch(/^BDAY:--\d\d-\d\d\r?$/m);
    expect(all).toMatch(/^BDAY:\d{4}-\d\d-\d\d\r?$/m);
    expect(share(/^PHOTO;ENCODING=b;TYPE=JPEG:/m)).toBeGreaterThan(0.1);
    expect(all).toMatch(/[^\x00-\x7f]/); // non-ASCII names
    for (const c of cards.slice(0, 50)) {
      expect(prop(c.vcard, 'UID')).toBe(c.id);
      expect(c.vcard.split('\r\n').every((l) => Buffer.byteLength(l) <= 75)).toBe(true);
      // One TYPE value per property, as Google stores it, plus PREF on the first EMAIL/TEL/IMPP (carddavclient 289f0ec).
      expect(c.vcard.replace(/,PREF([;:])/g, '$1')).not.toMatch(/TYPE=[^:;]*,/);
    }
    const photo = cards.find((c) => c.vcard.includes('PHOTO'))!;
    const b64 = prop(photo.vcard, 'PHOTO')!;
    expect(Buffer.from(b64, 'base64').subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('loads 25,000 contacts; Depth 1 lists them all and multiget serves batches of them', async () => {
    const s = await setup();
    const cards = s.emu.seed(s.email, 25_000, { seed: 3 });
    expect(cards).toHaveLength(25_000);
    expect(s.emu.listCards(s.email)).toHaveLength(25_000);
    const res = await s.dav(s.book, { method: 'PROPFIND', headers: { depth: '1' }, body: propfindBody('<d:getetag/>') });
    const { responses } = parseMultistatus(await res.text());
    expect(responses).toHaveLength(25_001);
    const batch = cards.slice(24_900).map((c) => c.href);
    const mg = await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: multigetBody(batch) });
    const got = parseMultistatus(await mg.text()).responses;
    expect(got.map((r) => r.href)).toEqual(batch);
    expect(got.every((r, i) => r.addressData === cards[24_900 + i]!.vcard)).toBe(true);
  });
});
