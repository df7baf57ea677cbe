// The public API of the auth module: Google OAuth 2.0 and the token vault.
export * from './errors.ts';
export {
  beginConsent,
  buildConsentUrl,
  CARDDAV_SCOPE,
  createGoogleTokenProvider,
  createMemoryTokenCache,
  createPkcePair,
  exchangeCode,
  GOOGLE_AUTH_URL,
  GOOGLE_TOKEN_URL,
  pkceChallenge,
  refreshAccessToken,
  resolveOAuthClient,
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
  StatePayload,
  TokenCache,
  TokenSet,
} from './google-oauth.ts';
export { createLocalKeyWrapper, createVault, loadOrCreateLocalMasterKey } from './vault.ts';
export type { KeyWrapper, Vault, VaultCacheOptions, VaultContext, WrapContext } from './vault.ts';
export { createKmsKeyWrapper } from './kms-key-wrapper.ts';
