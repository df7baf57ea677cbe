// The API's labels: the PATCH/POST shapes that carry them (validated, queued
// as the operation's `labels`), and GET /v1/connections/{id}/labels through
// a LabelStore (an in-memory fake of lib/labels' port) or why there is none.
import { describe, expect, it } from 'vitest';
import type { Label, LabelAccess, LabelStore } from '../../lib/labels/ports.ts';
import { BOOK_PATH, connect, contactIdOf, harness, jsonOf, problemOf } from './fakes.ts';

const HREF = `${BOOK_PATH}ada-1.vcf`;

class MemoryLabels implements LabelStore {
  readonly labels: Label[];
  constructor(labels: Label[]) {
    this.labels = labels;
  }
  async list() {
    return this.labels;
  }
  async memberships() {
    return { contacts: [], deleted: [], full: true };
  }
  async modify() {
    return { notFound: [] };
  }
  async create(name: string) {
    const label: Label = { id: `l${this.labels.length}`, name, kind: 'user' };
    this.labels.push(label);
    return label;
  }
}

describe('labels in the API', () => {
  it('PATCH queues a label change beside the field changes, and refuses a bad one', async () => {
    const h = harness();
    const id = await connect(h);
    const path = `/v1/connections/${id}/contacts/${contactIdOf(HREF)}`;
    const res = await h.call(path, { method: 'PATCH', json: { labels: { add: ['Family'], remove: ['Work'] } } });
    expect(res.status).toBe(202);
    expect(h.writes.records.get('wr_0001')!.operation).toEqual({ kind: 'patch', href: HREF, patch: {}, labels: { add: ['Family'], remove: ['Work'] } });
    const both = await h.call(path, { method: 'PATCH', json: { labels: { replace: ['A'], add: ['B'] } } });
    expect(both.status).toBe(400);
    const same = await h.call(path, { method: 'PATCH', json: { labels: { add: ['A'], remove: ['A'] } } });
    expect((await problemOf(same)).errors).toEqual([{ pointer: '/labels/add/0', detail: 'label "A" is both added and removed' }]);
    expect((await h.call(path, { method: 'PATCH', json: { labels: { add: ['  '] } } })).status).toBe(400);
    expect((await h.call(path, { method: 'PATCH', json: { labels: {} } })).status).toBe(400);
  });

  it('POST of a JSON contact carries its labels to the create', async () => {
    const h = harness();
    const id = await connect(h);
    const res = await h.call(`/v1/connections/${id}/contacts`, { method: 'POST', json: { fullName: 'Ada', labels: ['Family'] } });
    expect(res.status).toBe(202);
    expect(h.writes.records.get('wr_0001')!.operation).toMatchObject({ kind: 'create', labels: ['Family'] });
  });

  it('a write with labels on a connection without them is refused at once, with the way to consent again; one that cannot be checked now is queued', async () => {
    let access: LabelAccess | Error = { available: false, reason: 'scope-missing', message: 'no contacts scope.' };
    const h = harness({ deps: { labels: async () => (access instanceof Error ? Promise.reject(access) : access) } });
    const id = await connect(h);
    const path = `/v1/connections/${id}/contacts/${contactIdOf(HREF)}`;
    const refused = await h.call(path, { method: 'PATCH', json: { labels: { add: ['Family'] } } });
    expect(refused.status).toBe(409);
    expect(await problemOf(refused)).toMatchObject({ title: 'This connection has no labels', detail: `no contacts scope. POST /v1/connections/${id}/reconnect answers a consent URL that grants it.` });
    expect((await h.call(`/v1/connections/${id}/contacts`, { method: 'POST', json: { fullName: 'Ada', labels: ['Family'] } })).status).toBe(409);
    expect(h.writes.records.size).toBe(0);
    // Without labels in it, a write does not ask.
    expect((await h.call(path, { method: 'PATCH', json: { note: 'x' } })).status).toBe(202);
    access = new Error('the token endpoint failed');
    expect((await h.call(path, { method: 'PATCH', json: { labels: { add: ['Family'] } } })).status).toBe(202);
    access = { available: true, store: new MemoryLabels([]) };
    expect((await h.call(path, { method: 'PATCH', json: { labels: { add: ['Family'] } } })).status).toBe(202);
  });

  it('GET /labels lists labels with member counts, or says why there are none and where to reconnect', async () => {
    let access: LabelAccess = { available: true, store: new MemoryLabels([{ id: 'contactGroups/starred', name: 'Starred', kind: 'system', memberCount: 2 }, { id: 'g1', name: 'Family', kind: 'user', memberCount: 1 }]) };
    const h = harness({ deps: { labels: async () => access } });
    const id = await connect(h);
    const ok = await h.call(`/v1/connections/${id}/labels`);
    expect(await jsonOf(ok)).toEqual({
      labels: 'available',
      items: [
        { id: 'contactGroups/starred', name: 'Starred', kind: 'system', memberCount: 2 },
        { id: 'g1', name: 'Family', kind: 'user', memberCount: 1 },
      ],
    });
    access = { available: false, reason: 'scope-missing', message: 'no contacts scope' };
    expect(await jsonOf(await h.call(`/v1/connections/${id}/labels`))).toEqual({
      labels: 'unavailable',
      items: [],
      reason: 'scope-missing',
      message: 'no contacts scope',
      reconnect: `/v1/connections/${id}/reconnect`,
    });
    expect((await h.call('/v1/connections/con_nope/labels')).status).toBe(404);
  });

  it('documents label.created, label.renamed and label.deleted as the OpenAPI document\'s webhooks, and contact.updated\'s labelsChanged', async () => {
    const h = harness();
    const doc = (await jsonOf(await h.call('/openapi.json', { key: null }))) as {
      webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: { $ref: string } }> } } }>;
      components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> };
    };
    expect(Object.keys(doc.webhooks).sort()).toEqual(['label.created', 'label.deleted', 'label.renamed']);
    for (const hook of Object.values(doc.webhooks)) expect(hook.post.requestBody.content['application/json']!.schema.$ref).toBe('#/components/schemas/LabelEvent');
    expect(doc.components.schemas.LabelEvent!.properties.type!.enum).toEqual(['label.created', 'label.renamed', 'label.deleted']);
    expect(Object.keys(doc.components.schemas.LabelEventData!.properties)).toEqual(['tenantId', 'connectionId', 'labelId', 'name', 'previousName']);
    expect(Object.keys(doc.components.schemas.LabelsChanged!.properties)).toEqual(['added', 'removed']);
  });

  it('answers 501 where labels are not configured', async () => {
    const h = harness();
    const id = await connect(h);
    expect((await h.call(`/v1/connections/${id}/labels`)).status).toBe(501);
  });
});
