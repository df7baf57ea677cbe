import { onTestFinished } from 'vitest';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import type { GoogleEmulator, StartGoogleEmulatorOptions } from '../../lib/emulator/index.ts';
import type { FetchLike } from '../../lib/carddav/types.ts';

export const CLIENT_ID = 'bridge-client.apps.googleusercontent.com';
export const CLIENT_SECRET = 'bridge-client-secret';
// Never fetched: consent is read from the emulator's 302 with redirect: 'manual'.
export const REDIRECT_URI = 'https://bridge.example/oauth/google/callback';
export const STATE_SECRET = 'state-secret-for-tests-0123456789abcdef';

export async function emulator(opts: StartGoogleEmulatorOptions = {}): Promise<GoogleEmulator> {
  const emu = await startGoogleEmulator(opts);
  onTestFinished(() => emu.close());
  return emu;
}

/** Real fetch, counting the requests that reach the token endpoint. */
export function countingFetch(tokenUrl: string): { fetch: FetchLike; readonly tokenRequests: number } {
  let count = 0;
  return {
    fetch: (input, init) => {
      if (String(input instanceof Request ? input.url : input) === tokenUrl) count++;
      return fetch(input, init);
    },
    get tokenRequests() {
      return count;
    },
  };
}

export function formOf(init: RequestInit | undefined): URLSearchParams {
  return new URLSearchParams(init?.body instanceof URLSearchParams ? init.body : String(init?.body ?? ''));
}
