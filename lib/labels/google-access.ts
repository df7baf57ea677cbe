// Whether a Google connection has labels: its grant must carry the contacts
// scope (consents from before labels do not); then its LabelStore over the
// People API, else why not and how to fix it (reconnect, which asks again).
import { CONTACTS_SCOPE } from '../auth/google-oauth.ts';
import type { OutboundFetch } from '../net/outbound.ts';
import { googleLabelStore } from './google-labels.ts';
import { createPeopleClient } from './google-people.ts';
import type { LabelAccess } from './ports.ts';

export const SCOPE_MISSING_MESSAGE =
  'This connection was consented to before labels: its Google grant lacks the contacts scope. Cards keep syncing; reconnect (POST /v1/connections/{id}/reconnect) to add labels.';

export function googleLabelAccess(params: {
  access: { accessToken(): Promise<string>; grantedScope(): string | undefined };
  addressBookUrl: string;
  fetch: OutboundFetch;
  /** Default Google's; the emulator's in tests and the local stack. */
  peopleApiUrl?: string;
}): LabelAccess {
  const granted = params.access.grantedScope();
  // Unknown (no token yet): try; a 403 then says the same, as LabelsForbidden.
  if (granted !== undefined && !granted.split(/\s+/).includes(CONTACTS_SCOPE)) return { available: false, reason: 'scope-missing', message: SCOPE_MISSING_MESSAGE };
  const client = createPeopleClient({
    fetch: params.fetch,
    accessToken: () => params.access.accessToken(),
    ...(params.peopleApiUrl === undefined ? {} : { baseUrl: params.peopleApiUrl }),
  });
  return { available: true, store: googleLabelStore({ client, addressBookUrl: params.addressBookUrl }) };
}
