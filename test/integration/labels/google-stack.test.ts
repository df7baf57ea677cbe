// Google labels through the local stack as `npm start` runs it (in process):
// DynamoDB Local, the SQS emulator, the Google emulator's CardDAV and People
// API, the API, the write applier and the sync worker on their queues, the
// change feed tailed at /_local/events. The quickstart's label commands run
// as printed; a connection consented before labels keeps syncing without
// them, says so, and gets them by consenting again.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTACTS_SCOPE } from '../../../lib/emulator/index.ts';
import { connectWithConsent } from '../../../lib/local/demo.ts';
import { createLineLog } from '../../../lib/local/log.ts';
import { EMULATOR_OAUTH_CLIENT, startLocalStack, type LocalStack } from '../../../lib/local/stack.ts';
import { contactIdFromHref } from '../../../lib/core/ids.ts';
import { cleanEnv, curlPath, runInShell, until } from '../../local/child.ts';

type AnyEvent = { id: string; type: string; data: Record<string, unknown> };

let stack: LocalStack;
let dataDir: string;
const logLines: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'carddav-bridge-labels-'));
  const log = createLineLog({ level: 'info', write: (line) => logLines.push(line) });
  stack = await startLocalStack({ dataDir, port: 0, dispatchIntervalMs: 500, demo: { accounts: 1, cardsPerAccount: 3 }, pollWaitSeconds: 1, log });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function api(path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.apiUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${stack.quickstart.apiKey}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function events(query: string): Promise<AnyEvent[]> {
  return ((await (await fetch(`${stack.apiUrl}/_local/events?limit=1000&${query}`)).json()) as { events: AnyEvent[] }).events;
}

/** Epoch ms of the connection's last finished sync (0: none yet). */
async function lastSyncAt(connectionId: string): Promise<number> {
  const at = ((await api(`/v1/connections/${connectionId}`)).body.lastSync as { at?: string } | undefined)?.at;
  return at === undefined ? 0 : Date.parse(at);
}

/** POST /sync, then waits until the run has finished (its summary is newer). */
async function syncNow(connectionId: string): Promise<Record<string, unknown>> {
  const before = await lastSyncAt(connectionId);
  expect((await api(`/v1/connections/${connectionId}/sync`, { method: 'POST' })).status).toBe(202);
  await until(async () => (await lastSyncAt(connectionId)) > before, `a sync of ${connectionId}`, 60_000);
  return (await api(`/v1/connections/${connectionId}`)).body.lastSync as Record<string, unknown>;
}

async function waitForWrite(writeId: string): Promise<Record<string, unknown>> {
  let view: Record<string, unknown> = {};
  await until(async () => {
    view = (await api(`/v1/writes/${writeId}`)).body;
    return view.status === 'applied' || view.status === 'failed' || view.status === 'conflict';
  }, `write ${writeId}`, 60_000);
  return view;
}

/** The consent page approves (as scripted on the emulator) and the API's callback stores the grant. */
async function consent(consentUrl: string): Promise<void> {
  const page = await fetch(consentUrl, { redirect: 'manual' });
  expect(page.status).toBe(302);
  const done = await fetch(new URL(page.headers.get('location')!, consentUrl), { headers: { accept: 'application/json' } });
  expect(done.status, await done.clone().text()).toBe(200);
}

describe('Google labels on the local stack (the emulator\'s People API)', () => {
  it('the quickstart\'s label commands work as printed: a label both ways, created where missing, no echo, one People API request per idle poll', async () => {
    const q = stack.quickstart;
    const emu = stack.emulator!;
    const { connectionId, email } = q.connections[0]!;
    const card = emu.listCards(email)[0]!;
    expect(q.labels).toHaveLength(7);
    const curl = await curlPath();
    const { steps, stderr } = await runInShell(q.labels!.map((s) => s.command), cleanEnv({ PATH: curl.path }));
    for (const s of steps) expect(s.exitCode, `${s.command}\n${s.stdout}\n${stderr}`).toBe(0);
    const out = steps.map((s) => JSON.parse(s.stdout) as Record<string, unknown>);

    // L1-L3: through the API; the label did not exist on "Google" and was made there, the contact in it.
    const writeId = String(out[0]!.writeId);
    expect(await waitForWrite(writeId)).toMatchObject({ status: 'applied' });
    const climbing = emu.people.groupNamed(email, 'Climbing')!;
    expect(climbing).toBeDefined();
    expect((out[1]!.events as AnyEvent[]).map((e) => [e.type, e.data])).toEqual([['label.created', { tenantId: q.tenantId, connectionId, labelId: `contactGroups/${climbing.id}`, name: 'Climbing' }]]);
    const onGoogle = (out[2]!.labels as { name: string; members?: string[] }[]).find((l) => l.name === 'Climbing');
    expect(onGoogle?.members).toEqual([card.id]);

    // L4-L6: on the phone; the sync reports it as Google's change, the card's ETag as it was.
    expect(out[3]).toEqual({ id: card.id, labels: ['Climbing', 'Family'] });
    expect(out[4]).toMatchObject({ status: 'sync_requested' });
    const updated = out[5]!.events as AnyEvent[];
    expect(updated).toHaveLength(1);
    expect(updated[0]!.data).toMatchObject({ connectionId, href: card.href, etag: card.etag, origin: { kind: 'remote' }, labelsChanged: { added: ['Family'], removed: [] } });
    expect(emu.people.groupNamed(email, 'Family')).toBeDefined();

    // L7: the labels with member counts, system groups shown as such.
    const listed = out[6]! as { labels: string; items: { name: string; kind: string; memberCount?: number }[] };
    expect(listed.labels).toBe('available');
    expect(listed.items.filter((l) => l.kind === 'user').map((l) => [l.name, l.memberCount]).sort()).toEqual([['Climbing', 1], ['Family', 1]]);
    expect(listed.items.some((l) => l.kind === 'system' && l.name === 'Starred')).toBe(true);

    // Echo: the sync after the API's write said nothing of Climbing but its creation, once.
    expect((await events(`connectionId=${connectionId}&label=Climbing`)).map((e) => e.type)).toEqual(['label.created']);
    // Like every event, the label's is in the change log.
    const log = (await api(`/v1/connections/${connectionId}/changes?limit=1000`)).body.items as { event: AnyEvent }[];
    expect(log.map((i) => i.event.type)).toContain('label.created');

    // An idle poll: one People API request (the memberships since the sync token).
    const people = emu.peopleRequests;
    const idle = await syncNow(connectionId);
    expect(idle).toMatchObject({ outcome: 'ok', events: 0 });
    expect(emu.peopleRequests - people).toBe(1);
  }, 240_000);

  it('a connection consented before labels keeps syncing, says why it has none with the way to consent again, and has them once it did', async () => {
    const emu = stack.emulator!;
    const email = 'before-labels@example.com';
    emu.addAccount({ email, ...EMULATOR_OAUTH_CLIENT });
    const card = emu.createCard(email, 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Old Grant\r\nN:Grant;Old;;;\r\nEND:VCARD\r\n');
    // The account owner unticked the contacts scope (or consented before the bridge asked for it).
    emu.scriptConsent({ untick: [CONTACTS_SCOPE] });
    const connectionId = await connectWithConsent({ apiUrl: stack.apiUrl, apiKey: stack.quickstart.apiKey, email });
    // The new connection is due at once: the dispatcher starts its first sync.
    await until(async () => (await lastSyncAt(connectionId)) > 0, 'the first sync', 60_000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${JSON.stringify(await api(`/v1/connections/${connectionId}`))}\n${logLines.filter((l) => l.includes(connectionId)).join('\n')}`);
    });
    expect((await api(`/v1/connections/${connectionId}`)).body.lastSync).toMatchObject({ outcome: 'ok', events: 1 });

    const labels = await api(`/v1/connections/${connectionId}/labels`);
    expect(labels.status).toBe(200);
    expect(labels.body).toMatchObject({ labels: 'unavailable', items: [], reason: 'scope-missing', reconnect: `/v1/connections/${connectionId}/reconnect` });
    const contactId = contactIdFromHref(card.href);
    const write = await api(`/v1/connections/${connectionId}/contacts/${contactId}`, { method: 'PATCH', body: { labels: { add: ['Work'] } } });
    expect(write.status).toBe(409);
    expect(String(write.body.detail)).toContain(`POST /v1/connections/${connectionId}/reconnect`);
    expect(emu.people.groupNamed(email, 'Work')).toBeUndefined();

    // Consent again, with the scope: labels from then on.
    const again = await api(`/v1/connections/${connectionId}/reconnect`, { method: 'POST', body: {} });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    await consent(String(again.body.consentUrl));
    expect((await api(`/v1/connections/${connectionId}/labels`)).body).toMatchObject({ labels: 'available' });
    const retry = await api(`/v1/connections/${connectionId}/contacts/${contactId}`, { method: 'PATCH', body: { labels: { add: ['Work'] } } });
    expect(await waitForWrite(String(retry.body.writeId))).toMatchObject({ status: 'applied' });
    expect(emu.people.labelsOf(email, card.id)).toEqual(['Work']);
  }, 240_000);
});
