// A queued write record as the API stores it, for the store tests: created
// at `at`, expiring a week on; `over` sets the operation or any other field.
import type { WriteRecord } from '../../lib/writes/types.ts';

export const CARD_A = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n';

export function queuedWrite(at: number, over: Partial<WriteRecord> = {}): WriteRecord {
  return {
    writeId: 'wr_1',
    tenantId: 'ten_a',
    connectionId: 'con_1',
    operation: { kind: 'create', vcard: CARD_A },
    status: 'queued',
    createdAt: new Date(at).toISOString(),
    updatedAt: new Date(at).toISOString(),
    attempts: 0,
    expiresAt: at / 1000 + 7 * 86400,
    ...over,
  };
}
