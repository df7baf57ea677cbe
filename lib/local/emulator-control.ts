// "Phone edits" over HTTP for the local stack: the Google emulator changes
// its contacts only through method calls (what tests use), so a person
// trying the bridge with curl needs a door to them. Served under
// `/_emulator` on the local stack's port (127.0.0.1 only), never in AWS.
// Changes made here are what a user's phone would do: the next sync sees
// them as remote edits.
import { Hono } from 'hono';
import type { Context } from 'hono';
import { ContactPatchSchema } from '../http/schemas.ts';
import { CardExistsError, MalformedVcardError, UnknownAccountError, UnknownCardError } from '../emulator/index.ts';
import type { GoogleEmulator } from '../emulator/index.ts';
import { json, jsonBody, problem } from './control-replies.ts';
import { editLabels, listLabels } from './emulator-labels.ts';
import { parseVCard, patchVCard, toContact, VCardError } from '../vcard/index.ts';

/** Largest vCard a control request may carry. */
const MAX_VCARD_BYTES = 256 * 1024;

export interface EmulatorControlParams {
  emulator: GoogleEmulator;
  /** The accounts the stack added (the emulator keeps no list of them). */
  accounts: () => readonly string[];
}

function fullNameOf(vcard: string): string | undefined {
  try {
    return toContact(parseVCard(vcard)).fullName;
  } catch {
    return undefined;
  }
}

/** The emulator's typed errors as problems; anything else is not ours to explain. */
function emulatorProblem(error: unknown): Response {
  if (error instanceof UnknownAccountError) return problem(404, 'Unknown account', error.message);
  if (error instanceof UnknownCardError) return problem(404, 'Unknown card', error.message);
  if (error instanceof MalformedVcardError || error instanceof VCardError) return problem(422, 'Invalid vCard', error.message);
  if (error instanceof CardExistsError) return problem(409, 'Card exists', error.message);
  throw error;
}

async function vcardBody(c: Context): Promise<string | Response> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'text/vcard') return problem(415, 'Unsupported Content-Type', 'Send the card as text/vcard.');
  const text = await c.req.text();
  if (Buffer.byteLength(text, 'utf8') > MAX_VCARD_BYTES) return problem(413, 'Too large', `The vCard is larger than ${MAX_VCARD_BYTES} bytes.`);
  return text;
}

/**
 * GET    /                               the emulator's URLs and accounts
 * GET    /accounts/{email}/cards         the account's cards (id, href, etag, fullName)
 * POST   /accounts/{email}/cards         a new card (text/vcard)
 * GET    /accounts/{email}/cards/{id}    one card (text/vcard)
 * PATCH  /accounts/{email}/cards/{id}    change named fields (JSON, the API's ContactPatch), other lines kept
 * PUT    /accounts/{email}/cards/{id}    replace the card (text/vcard)
 * DELETE /accounts/{email}/cards/{id}    remove the card
 * GET    /accounts/{email}/labels        the account's labels (contact groups) and their members
 * POST   /accounts/{email}/cards/{id}/labels  label a card as the phone does (JSON {add, remove}; a new label is made)
 */
export function emulatorControlRoutes(params: EmulatorControlParams): Hono {
  const app = new Hono();
  app.get('/', () => json(overview(params)));
  app.get('/accounts/:email/cards', forAccount(params, (email) => json({ cards: cardList(params.emulator, email) })));
  app.post('/accounts/:email/cards', forAccount(params, (email, c) => createCard(params.emulator, email, c)));
  app.get('/accounts/:email/cards/:id', forAccount(params, (email, c) => readCard(params.emulator, email, c.req.param('id') ?? '')));
  app.patch('/accounts/:email/cards/:id', forAccount(params, (email, c) => patchCard(params.emulator, email, c)));
  app.put('/accounts/:email/cards/:id', forAccount(params, (email, c) => replaceCard(params.emulator, email, c)));
  app.delete('/accounts/:email/cards/:id', forAccount(params, (email, c) => deleteCard(params.emulator, email, c.req.param('id') ?? '')));
  app.get('/accounts/:email/labels', forAccount(params, (email) => listLabels(params.emulator, email)));
  app.post('/accounts/:email/cards/:id/labels', forAccount(params, (email, c) => editLabels(params.emulator, email, c)));
  app.notFound((c) => problem(404, 'Not found', `No emulator control route for ${c.req.method} ${c.req.path}; see GET /_emulator.`));
  return app;
}

/** A route for one of the stack's accounts: 404 for any other. */
function forAccount(params: EmulatorControlParams, handle: (email: string, c: Context) => Response | Promise<Response>): (c: Context) => Response | Promise<Response> {
  return (c) => {
    const email = c.req.param('email') ?? '';
    if (!params.accounts().includes(email)) return problem(404, 'Unknown account', `No account ${email} in the emulator; see GET /_emulator.`);
    return handle(email, c);
  };
}

function overview(params: EmulatorControlParams) {
  const { emulator } = params;
  return {
    url: emulator.url,
    tokenUrl: emulator.tokenUrl,
    authUrl: emulator.authUrl,
    accounts: params.accounts().map((email) => ({ email, addressBookUrl: emulator.addressBookUrl(email), cards: emulator.listCards(email).length })),
    note: 'Changes made through /_emulator are what a phone would do: the next sync reports them as remote edits.',
  };
}

function cardList(emulator: GoogleEmulator, email: string) {
  return emulator
    .listCards(email)
    .map((card) => ({ id: card.id, href: card.href, etag: card.etag, fullName: fullNameOf(card.vcard) }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function cardView(emulator: GoogleEmulator, email: string, id: string) {
  const card = emulator.getCard(email, id);
  return card === undefined ? undefined : { id: card.id, href: card.href, etag: card.etag, fullName: fullNameOf(card.vcard) };
}

function unknownCard(email: string, id: string): Response {
  return problem(404, 'Unknown card', `No card ${id} in ${email}'s address book.`);
}

async function createCard(emulator: GoogleEmulator, email: string, c: Context): Promise<Response> {
  const body = await vcardBody(c);
  if (body instanceof Response) return body;
  try {
    const made = emulator.createCard(email, body);
    return json({ ...made, fullName: fullNameOf(body) }, 201);
  } catch (error) {
    return emulatorProblem(error);
  }
}

function readCard(emulator: GoogleEmulator, email: string, id: string): Response {
  const card = emulator.getCard(email, id);
  if (card === undefined) return unknownCard(email, id);
  return new Response(card.vcard, { headers: { 'content-type': 'text/vcard; charset=utf-8', etag: card.etag } });
}

async function patchCard(emulator: GoogleEmulator, email: string, c: Context): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const card = emulator.getCard(email, id);
  if (card === undefined) return unknownCard(email, id);
  const patch = await jsonBody(c, ContactPatchSchema, 'Invalid patch');
  if (patch instanceof Response) return patch;
  return updateCard({ emulator, email, id, vcard: () => patchVCard(card.vcard, patch) });
}

async function replaceCard(emulator: GoogleEmulator, email: string, c: Context): Promise<Response> {
  const body = await vcardBody(c);
  if (body instanceof Response) return body;
  return updateCard({ emulator, email, id: c.req.param('id') ?? '', vcard: () => body });
}

/** Stores the card's new text (made inside the try: patching may fail on the card's own text) and answers its view. */
function updateCard(params: { emulator: GoogleEmulator; email: string; id: string; vcard: () => string }): Response {
  const { emulator, email, id } = params;
  try {
    const etag = emulator.updateCard(email, id, params.vcard());
    return json({ ...cardView(emulator, email, id), etag });
  } catch (error) {
    return emulatorProblem(error);
  }
}

function deleteCard(emulator: GoogleEmulator, email: string, id: string): Response {
  try {
    emulator.deleteCard(email, id);
    return new Response(null, { status: 204 });
  } catch (error) {
    return emulatorProblem(error);
  }
}
