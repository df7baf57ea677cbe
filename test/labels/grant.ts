// A Google emulator with one account whose access token carries the given
// scopes (a refresh of a grant that has them), for the labels tests. Access
// tokens outlive the People API's 7-day sync tokens, so the clock can pass them.
import { onTestFinished } from 'vitest';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';

export const CARD = (fn: string) => `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:${fn}\r\nN:${fn};;;;\r\nEND:VCARD\r\n`;

export async function emulatorGrant(scopes: string[]) {
  const emu = await startGoogleEmulator({ accessTokenTtlSeconds: 30 * 24 * 3600 });
  onTestFinished(() => emu.close());
  const email = 'alice@example.com';
  const grant = emu.addAccount({ email, scopes });
  const tokenRes = await fetch(emu.tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken }) });
  const { access_token: token } = (await tokenRes.json()) as { access_token: string };
  return { emu, email, token };
}
