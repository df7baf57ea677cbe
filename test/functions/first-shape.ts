// A value in the vault's first shape, `v1.<wrapped>.<iv>.<ct>`, as the vault
// sealed it before purposes (lib/auth/vault.ts): the data key wrapped under
// `{ tenantId }`, the payload's AAD `["carddav-bridge/vault","v1",tenantId,connectionId]`.
// The vault only opens this shape now; tests of the migration need to make it.
import { createCipheriv, randomBytes } from 'node:crypto';
import type { KeyWrapper } from '../../lib/auth/vault.ts';

export async function sealFirstShape(params: { wrapper: KeyWrapper; tenantId: string; connectionId: string; plaintext: string }): Promise<string> {
  const { plaintext: key, wrapped } = await params.wrapper.generateDataKey({ context: { tenantId: params.tenantId } });
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(JSON.stringify(['carddav-bridge/vault', 'v1', params.tenantId, params.connectionId]), 'utf8'));
  const ct = Buffer.concat([cipher.update(params.plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return ['v1', Buffer.from(wrapped).toString('base64url'), iv.toString('base64url'), ct.toString('base64url')].join('.');
}
