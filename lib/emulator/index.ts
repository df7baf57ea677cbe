// A Google-faithful CardDAV + OAuth 2.0 emulator for tests, benchmarks and the
// local stack. See quirks.ts for every switch and the report it comes from.

export { startGoogleEmulator } from './server.ts';
export type { EmulatorStats, GoogleEmulator, SeedParams, StartGoogleEmulatorOptions } from './server.ts';
export type { Clock, EmulatorClock } from './clock.ts';
export { DEFAULT_QUIRKS } from './quirks.ts';
export type { Quirks } from './quirks.ts';
export type { FaultPlan } from './faults.ts';
export type { AddAccountParams } from './oauth.ts';
export { CARDDAV_SCOPE } from './oauth.ts';
export { GOOGLE_OAUTH, LENIENT_OAUTH, USERINFO_EMAIL_SCOPE } from './oauth-behaviours.ts';
export type { ConsentChoice, OAuthBehaviours } from './oauth-behaviours.ts';
export type { CardView } from './store.ts';
export { CONTACTS_SCOPE, CONTACTS_READONLY_SCOPE, PEOPLE_SYNC_TOKEN_TTL_MS, personResourceName } from './people.ts';
export type { PeopleControl } from './people-server.ts';
export type { ContactGroupState } from './people-store.ts';
export {
  CardExistsError,
  EmulatorError,
  EmulatorStartError,
  InvalidArgumentError,
  MalformedVcardError,
  MalformedXmlError,
  UnknownAccountError,
  UnknownCardError,
} from './errors.ts';
