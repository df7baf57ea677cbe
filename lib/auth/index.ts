// The public API of the auth module: Google OAuth 2.0 and the token vault.
export * from './errors.ts';
export {
  beginConsent,
  buildConsentUrl,
  CARDDAV_SCOPE,
  CONTACTS_SCOPE,
  createGoogleTokenProvider,
  createMemoryTokenCache,
  createPkcePair,
  exchangeCode,
  GOOGLE_AUTH_URL,
  GOOGLE_REVOKE_URL,
  GOOGLE_TOKEN_URL,
  pkceChallenge,
  refreshAccessToken,
  resolveOAuthClient,
  revokeToken,
  revokeUrlFor,
  signState,
  verifyState,
} from './google-oauth.ts';
export type {
  AccessTokenProvider,
  CachedAccessToken,
  Clock,
  GoogleTokenProviderParams,
  OAuthClientConfig,
  PkcePair,
  ResolvedOAuthClient,
  RevokeOutcome,
  StatePayload,
  TokenCache,
  TokenSet,
} from './google-oauth.ts';
export { createLocalKeyWrapper, createVault, isCurrentSealed, loadOrCreateLocalMasterKey, VAULT_PURPOSES } from './vault.ts';
export type { KeyWrapper, Vault, VaultCacheOptions, VaultContext, VaultPurpose, WrapContext } from './vault.ts';
export { createKmsKeyWrapper } from './kms-key-wrapper.ts';
export { GRANT_DEATH_MESSAGES, grantDeathCauseOf, likelyGrantDeathCause, IDLE_TOKEN_LIFETIME_MS, TESTING_TOKEN_LIFETIME_MS, TOKEN_CAP } from './grant-lifetime.ts';
export type { GrantDeathCause } from './grant-lifetime.ts';
