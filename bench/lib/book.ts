// The benchmark address book: the emulator's generated contacts (Google's
// shape: several emails and phones, custom labels, addresses, some photos,
// non-ASCII names), seeded so every run gets the same cards.
import { startGoogleEmulator } from '../../lib/emulator/index.ts';

export const BOOK_SEED = 1;

/** `count` vCards as the emulator generates them (it is started and stopped for this). */
export async function generateCards(count: number): Promise<string[]> {
  const emulator = await startGoogleEmulator();
  try {
    const email = 'bench@example.com';
    emulator.addAccount({ email });
    return emulator.seed(email, count, { seed: BOOK_SEED }).map((c) => c.vcard);
  } finally {
    await emulator.close();
  }
}

/** A changed version of a card: a NOTE added before END:VCARD (a real content change). */
export function editedCard(vcard: string, stamp: string): string {
  return vcard.replace(/END:VCARD\s*$/, `NOTE:edited ${stamp}\r\nEND:VCARD\r\n`);
}

/** A brand-new card with its own UID. */
export function newCard(uid: string): string {
  return ['BEGIN:VCARD', 'VERSION:3.0', `UID:${uid}`, `FN:New Contact ${uid}`, 'N:Contact;New;;;', `EMAIL;TYPE=WORK:${uid}@example.com`, 'END:VCARD', ''].join('\r\n');
}
