// The HTTP API: `createApp(deps)` and what its callers (the Lambda entry, the
// local stack, the CLI's key commands, the adapters) need beside it.
export { createApp, DEFAULT_MAX_BODY_BYTES } from './app.ts';
export type { App } from './app.ts';
export { API_KEY_PREFIX, API_SCOPES, generateApiKey, hashApiKey, isApiScope } from './api-keys.ts';
export type { GeneratedApiKey } from './api-keys.ts';
export { classifyAddress, isAllowedAddress, assertSafeUrl } from './ssrf.ts';
export type { AddressClass } from './ssrf.ts';
export { IDEMPOTENCY_TTL_MS } from './middleware.ts';
export { emailFromPrincipal, GOOGLE_CARDDAV_URL, GOOGLE_ISSUERS, GOOGLE_USERINFO_URL, identityFromIdToken, identityFromUserinfo } from './google-identity.ts';
export * from './problems.ts';
export { OAuthClientNotConfigured } from './routes/tenant.ts';
export type * from './ports.ts';
