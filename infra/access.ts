// What each function may do to the table and the vault key, read off its
// code paths (lib/store README "Access paths"): the DynamoDB actions it calls,
// limited by `dynamodb:LeadingKeys` to the partitions it touches, and KMS
// calls limited by the vault's encryption context to the purposes it seals or
// opens (lib/auth/vault.ts). No function may Scan, and the table has no stream.
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LEGACY_WRAP_CONTEXT_KEYS, WRAP_CONTEXT_KEYS } from '../lib/auth/vault.ts';
import type { VaultPurpose } from '../lib/auth/vault.ts';

/**
 * Partition-key prefixes of the table's items (lib/store README "Items";
 * test/infra checks each against the key functions of lib/store).
 */
export const PARTITIONS = {
  /** A connection's item collection: the connection, its CRED item, index rows, echo markers, intents. */
  connection: 'CONN#',
  /** A tenant's collection: the tenant, its connection pointers, webhook endpoints, its OAuth client. */
  tenant: 'TENANT#',
  apiKey: 'APIKEY#',
  write: 'WRITE#',
  idempotency: 'IDEMP#',
  /** An endpoint's delivery log. */
  webhookLog: 'WEBHOOK#',
  /** Which connections hold a Google grant (lib/store/grants.ts): the api's consent and delete paths. */
  grant: 'GRANT#',
  /** Writes not yet finished (lib/store/write-outbox.ts): the api puts them, the applier's finish drops them, the dispatcher sweeps what stays. */
  outbox: 'OUTBOX#',
  /** A connection's change log (lib/store/change-log.ts): the sync worker and the applier append, the api reads. */
  changeLog: 'LOG#',
  /**
   * The vault's epoch keys (lib/store/vault-keyring.ts), `VAULTKEY#<epoch>#<purpose>`: granted
   * per purpose (vaultKeyGrants), never as a whole partition.
   */
  vaultKey: 'VAULTKEY#',
} as const;
export type Partition = keyof typeof PARTITIONS;

export const READ = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'] as const;
type DynamoAction =
  | (typeof READ)[number]
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:DeleteItem'
  | 'dynamodb:BatchWriteItem'
  | 'dynamodb:ConditionCheckItem';

/** One grant: these actions on items whose partition key starts with one of these prefixes. */
export interface ItemGrant {
  actions: readonly DynamoAction[];
  partitions: readonly Partition[];
  /** Narrower than the whole partition: only keys matching these `StringLike` patterns after its prefix. */
  keys?: readonly string[];
}

/** The `dynamodb:LeadingKeys` patterns of a grant. */
export function leadingKeys(grant: ItemGrant): string[] {
  return grant.partitions.flatMap((p) => (grant.keys ?? ['*']).map((k) => `${PARTITIONS[p]}${k}`));
}

export type FunctionName = 'api' | 'dispatch' | 'sync' | 'applyWrites' | 'deliverWebhooks';

/** What a function seals (GenerateDataKey) and opens (Decrypt) with the vault. */
export interface VaultAccess {
  seal: readonly VaultPurpose[];
  open: readonly VaultPurpose[];
}

const CREDENTIALS: readonly VaultPurpose[] = ['carddav-credential', 'oauth-refresh-token'];

export const VAULT_ACCESS: Record<FunctionName, VaultAccess> = {
  // Seals what tenants hand it; opens webhook secrets (reading, updating or
  // rotating an endpoint), the tenant's OAuth client (consent), and a Google
  // connection's refresh token to revoke its grant (delete, reconnect), and
  // a connection's credentials to read one contact from its server
  // (GET /v1/connections/{id}/contacts/{contactId}, issue 12).
  api: { seal: [...CREDENTIALS, 'webhook-secret', 'oauth-client-secret'], open: [...CREDENTIALS, 'webhook-secret', 'oauth-client-secret'] },
  dispatch: { seal: [], open: [] },
  // Open credentials and tenants' clients; re-seal a rotated refresh token
  // (and credentials of the vault's first shape, lib/auth/vault.ts).
  sync: { seal: CREDENTIALS, open: [...CREDENTIALS, 'oauth-client-secret'] },
  applyWrites: { seal: CREDENTIALS, open: [...CREDENTIALS, 'oauth-client-secret'] },
  // Opens webhook secrets to sign; seals only when it disables an endpoint
  // whose secrets are of the first shape (the endpoint is written whole).
  deliverWebhooks: { seal: ['webhook-secret'], open: ['webhook-secret'] },
};

/**
 * The vault's epoch keys, per purpose (lib/auth/README.md): sealing reads the
 * month's key and, first in the month, puts it (a conditional PutItem);
 * opening only reads. `VAULTKEY#*#<purpose>`: the epoch is free, the purpose
 * is not (an epoch holds no `#`).
 */
export function vaultKeyGrants(access: VaultAccess): ItemGrant[] {
  const keys = (purposes: readonly VaultPurpose[]) => purposes.map((p) => `*#${p}`);
  const openOnly = access.open.filter((p) => !access.seal.includes(p));
  return [
    ...(access.seal.length > 0 ? [{ actions: ['dynamodb:GetItem', 'dynamodb:PutItem'] as const, partitions: ['vaultKey'] as const, keys: keys(access.seal) }] : []),
    ...(openOnly.length > 0 ? [{ actions: ['dynamodb:GetItem'] as const, partitions: ['vaultKey'] as const, keys: keys(openOnly) }] : []),
  ];
}

/**
 * Appending to the change log: the tail (GetItem), the newest pages' id
 * items (Query) and the old layout's id items (BatchGetItem), and one
 * TransactWriteItems of the tail's Update and the page's and ids' Puts.
 */
const APPEND_TO_LOG: readonly ItemGrant[] = [
  { actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], partitions: ['changeLog'] },
];

/**
 * Per function, from its code paths. TransactWriteItems needs the actions of
 * its parts (PutItem, UpdateItem, DeleteItem, ConditionCheckItem); it is not
 * an IAM action of its own.
 */
export const TABLE_ACCESS: Record<FunctionName, readonly ItemGrant[]> = {
  api: [
    // API key lookup (read only: keys are made by the CLI), connections, writes,
    // idempotency records, webhook endpoints and their delivery log, tenants' OAuth clients,
    // Google grant holders.
    { actions: READ, partitions: ['connection', 'tenant', 'apiKey', 'write', 'idempotency', 'webhookLog', 'grant'] },
    // createConnection / updateConnection (transactions of Put and Update), deleteConnection
    // (BatchWriteItem over the collection, DeleteItem), write records, Idempotency-Key records, endpoints.
    {
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      partitions: ['connection', 'tenant', 'write', 'idempotency'],
    },
    // A contact create checks its connection inside the write record's transaction (no read first).
    { actions: ['dynamodb:ConditionCheckItem'], partitions: ['connection'] },
    // A consent adds the connection as a holder of its grant; a delete or a move removes it.
    { actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'], partitions: ['grant'] },
    // Each accepted write's outbox entry, in the write record's transaction; the applier's finish drops it.
    { actions: ['dynamodb:PutItem'], partitions: ['outbox'] },
    // GET /changes and webhook replay read the change log (tail GetItem, entries Query); never write it.
    { actions: ['dynamodb:GetItem', 'dynamodb:Query'], partitions: ['changeLog'] },
    ...vaultKeyGrants(VAULT_ACCESS.api),
  ],
  // The claim is one conditional UpdateItem; the due and slot queries are on the indexes (grantDueQuery).
  dispatch: [
    { actions: ['dynamodb:UpdateItem'], partitions: ['connection'] },
    // The budget: whether a tenant has its own OAuth client (GetItem, once per tenant per run).
    { actions: ['dynamodb:GetItem'], partitions: ['tenant'] },
    // The outbox sweep: pending entries, the status of each one's write, entries settled.
    { actions: ['dynamodb:Query', 'dynamodb:DeleteItem'], partitions: ['outbox'] },
    { actions: ['dynamodb:GetItem'], partitions: ['write'] },
  ],
  sync: [
    // Lease, commit, release, index rows (BatchGetItem, Query, BatchWriteItem), intents (PutItem),
    // credentials (GetItem; a rotated refresh token: a transaction of Update and Put).
    { actions: [...READ, 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem'], partitions: ['connection'] },
    // Tenants' own OAuth clients, and the change log's retention on the tenant item; the
    // console's hourly counters (`TENANT#t`/`HOUR#…`, ADDed only when a run published something).
    { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], partitions: ['tenant'] },
    ...APPEND_TO_LOG,
    ...vaultKeyGrants(VAULT_ACCESS.sync),
  ],
  applyWrites: [
    // The connection and its credentials, index entries, echo markers (recordDelete: a
    // ConditionCheck on the row with the marker's Update), a rotated refresh token (Put);
    // a write's labels: what was seen of the contact (BatchGet, BatchWrite) and the label list (Get, Put).
    {
      actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem', 'dynamodb:BatchWriteItem'],
      partitions: ['connection'],
    },
    // Write records: read, then markApplying / finish.
    { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], partitions: ['write'] },
    // finish drops the write's outbox entry in its own transaction (the write was delivered).
    { actions: ['dynamodb:DeleteItem'], partitions: ['outbox'] },
    // The tenant's OAuth client and log retention; the console's hourly counters of finished writes.
    { actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], partitions: ['tenant'] },
    ...APPEND_TO_LOG,
    ...vaultKeyGrants(VAULT_ACCESS.applyWrites),
  ],
  deliverWebhooks: [
    // Endpoints (list, get; put to disable one that answered 410). Nothing of
    // connections or API keys: the one function that calls tenant-supplied URLs
    // cannot read a CRED item nor rewrite a key.
    { actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'], partitions: ['tenant'] },
    // The delivery log.
    { actions: ['dynamodb:PutItem'], partitions: ['webhookLog'] },
    ...vaultKeyGrants(VAULT_ACCESS.deliverWebhooks),
  ],
};

export function grantTableAccess(fn: IFunction, table: ITableV2, grants: readonly ItemGrant[]): void {
  for (const grant of grants) {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...grant.actions],
        resources: [table.tableArn],
        // Every granted action names its items' partition keys, so the key is
        // always present (ForAllValues is also true when it is absent: no Scan is granted).
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeys(grant) } },
      }),
    );
  }
}

/** The dispatcher's due query: the index holds only keys, tenantId and connectionId. */
export function grantDueQuery(fn: IFunction, table: ITableV2, indexName: string): void {
  fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/${indexName}`] }));
}

/**
 * KMS calls on the vault key, only under the vault's context `{ tenantId,
 * purpose }` with one of the given purposes (an epoch key's tenantId is
 * `#epoch:<epoch>`, lib/auth/vault.ts epochWrapContext). Sealing may Decrypt
 * too: a container that seals after another stored the month's key unwraps
 * that one. With `legacy`, also Decrypt under the first shape's
 * `{ tenantId }`, for values sealed before purposes existed (they are sealed
 * again as they are read or written).
 */
export function grantVault(params: { fn: IFunction; key: IKey; access: VaultAccess; legacy: boolean }): void {
  const { fn, key, access } = params;
  const calls: [string, readonly VaultPurpose[]][] = [
    ['kms:GenerateDataKey', access.seal],
    ['kms:Decrypt', [...new Set([...access.open, ...access.seal])]],
  ];
  for (const [action, purposes] of calls) {
    if (purposes.length === 0) continue;
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [action],
        resources: [key.keyArn],
        conditions: {
          'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...WRAP_CONTEXT_KEYS] },
          StringEquals: { 'kms:EncryptionContext:purpose': [...purposes] },
          Null: { 'kms:EncryptionContext:tenantId': 'false' },
        },
      }),
    );
  }
  if (params.legacy && access.open.length > 0) {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [key.keyArn],
        conditions: {
          'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...LEGACY_WRAP_CONTEXT_KEYS] },
          Null: { 'kms:EncryptionContext:tenantId': 'false' },
        },
      }),
    );
  }
}
