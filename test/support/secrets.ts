// Fixed key material for tests (never a deployment's).

/** AppConfig.requestHashSecret for test apps: 32+ bytes, as createApp requires. */
export const TEST_REQUEST_HASH_SECRET = 'request-hash-secret-for-tests-0123456789';
