// The vault's keyring in the one table (lib/auth/vault.ts VaultKeyring): one
// small item per key epoch and purpose holding the wrapped data key.
//
// | key | holds |
// | --- | --- |
// | `VAULTKEY#<epoch>#<purpose>` (pk = sk) | wrapped (binary, the KMS ciphertext of the data key) |
//
// Written once per epoch (the first seal of the month wins a conditional
// put; a loser gets the winner's key back with the refusal), read once per
// container and epoch. Never expires: values sealed in an epoch need its key
// for as long as they exist.
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { VaultKeyring, VaultPurpose } from '../auth/vault.ts';
import { StoreError } from '../core/errors.ts';
import { ABSENT, call, conditional, openTable } from './table-client.ts';
import type { Item, TableOptions } from './table-client.ts';
import { single } from './tenants.ts';

export function vaultKeyKey(epoch: string, purpose: VaultPurpose): { pk: string; sk: string } {
  return single(`VAULTKEY#${epoch}#${purpose}`);
}

function wrappedOf(item: Item | null | undefined, key: string): Uint8Array | undefined {
  if (item === undefined || item === null) return undefined;
  if (!(item.wrapped instanceof Uint8Array) || item.wrapped.length === 0) throw new StoreError(`${key} holds no wrapped key`);
  return item.wrapped;
}

export function createDynamoVaultKeyring(options: TableOptions): VaultKeyring {
  const t = openTable(options);
  return {
    async get({ epoch, purpose }) {
      const key = vaultKeyKey(epoch, purpose);
      const out = await call(t, 'getVaultKey', () => t.doc.send(new GetCommand({ TableName: t.name, Key: key, ConsistentRead: true })));
      return wrappedOf(out.Item, key.pk);
    },
    putIfAbsent({ epoch, purpose, wrapped }) {
      const key = vaultKeyKey(epoch, purpose);
      const put = new PutCommand({ TableName: t.name, Item: { ...key, type: 'vault-key', epoch, purpose, wrapped }, ...ABSENT, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
      return conditional(
        t,
        'putVaultKey',
        async () => (await t.doc.send(put), wrapped),
        (old) => {
          const kept = wrappedOf(old, key.pk);
          if (kept === undefined) throw new StoreError(`${key.pk} was refused but holds nothing`);
          return kept;
        },
      );
    },
  };
}
