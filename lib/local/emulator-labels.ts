// Labels as a phone sets them, over HTTP for the local stack (`/_emulator`,
// beside the card routes of emulator-control.ts): the emulator's People API
// side changes its contact groups only through method calls, so a person
// trying labels with curl needs a door to them. The next sync reports what
// is done here as Google's own change (contact.updated with labelsChanged).
import type { Context } from 'hono';
import { z } from '@hono/zod-openapi';
import type { GoogleEmulator } from '../emulator/index.ts';
import { json, jsonBody, problem } from './control-replies.ts';

const LabelEdit = z.strictObject({ add: z.array(z.string().trim().min(1).max(200)).max(50).optional(), remove: z.array(z.string().min(1).max(200)).max(50).optional() });


/** GET /accounts/{email}/labels: the account's contact groups (system ones too), with their members' card ids. */
export function listLabels(emulator: GoogleEmulator, email: string): Response {
  const cards = emulator.listCards(email);
  const labels = emulator.people.groups(email).map((g) => ({
    id: `contactGroups/${g.id}`,
    name: g.name,
    kind: g.groupType === 'SYSTEM_CONTACT_GROUP' ? 'system' : 'user',
    members: g.groupType === 'USER_CONTACT_GROUP' ? cards.filter((c) => emulator.people.labelsOf(email, c.id).includes(g.name)).map((c) => c.id) : undefined,
  }));
  return json({ labels });
}

/** POST /accounts/{email}/cards/{id}/labels {add, remove}: a label that does not exist is made, as Google Contacts does. */
export async function editLabels(emulator: GoogleEmulator, email: string, c: Context): Promise<Response> {
  const id = c.req.param('id') ?? '';
  if (emulator.getCard(email, id) === undefined) return problem(404, 'Unknown card', `No card ${id} in ${email}'s address book.`);
  const edit = await jsonBody(c, LabelEdit, 'Invalid labels');
  if (edit instanceof Response) return edit;
  const { people } = emulator;
  for (const name of edit.add ?? []) {
    const group = people.groupNamed(email, name) ?? people.createGroup(email, name);
    people.modifyGroup(email, group.id, { add: [id] });
  }
  for (const name of edit.remove ?? []) {
    const group = people.groupNamed(email, name);
    if (group !== undefined) people.modifyGroup(email, group.id, { remove: [id] });
  }
  return json({ id, labels: people.labelsOf(email, id) });
}
