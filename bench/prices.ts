// The prices the cost scenario uses: AWS list prices for us-east-1, first
// tier, without the free tier (it is per account, not per connection).
//
// LIST PRICES TO CHECK: taken on PRICES_TAKEN from the public AWS pricing
// pages (and pages quoting them); they change, and a real bill has tiers,
// savings plans and free tiers on top. Check them before quoting a figure.

export const PRICES_TAKEN = '2026-11-21';
export const PRICES_REGION = 'us-east-1';

export interface Price {
  /** US dollars per `per` units of `unit`. */
  usd: number;
  per: number;
  unit: string;
}

export const PRICES = {
  /** Lambda invocations. */
  lambdaRequest: { usd: 0.2, per: 1_000_000, unit: 'requests' },
  /** Lambda duration on arm64 (Graviton), first 7.5 billion GB-s a month. */
  lambdaArmGbSecond: { usd: 0.0000133334, per: 1, unit: 'GB-s (arm64)' },
  /** DynamoDB on-demand write request units (1 KB each; a transactional write counts 2). */
  dynamoWriteUnit: { usd: 0.625, per: 1_000_000, unit: 'write request units' },
  /** DynamoDB on-demand read request units (4 KB strongly consistent, or 2 eventually consistent reads). */
  dynamoReadUnit: { usd: 0.125, per: 1_000_000, unit: 'read request units' },
  /** DynamoDB Standard table class storage. */
  dynamoStorageGbMonth: { usd: 0.25, per: 1, unit: 'GB-month' },
  /** SQS FIFO requests (each 64 KB chunk of a payload counts as one request). */
  sqsFifoRequest: { usd: 0.5, per: 1_000_000, unit: 'FIFO requests' },
  /** SQS standard requests. */
  sqsStandardRequest: { usd: 0.4, per: 1_000_000, unit: 'standard requests' },
  /** KMS symmetric requests (Decrypt, GenerateDataKey). */
  kmsRequest: { usd: 0.03, per: 10_000, unit: 'requests' },
  /** One customer managed KMS key. */
  kmsKeyMonth: { usd: 1, per: 1, unit: 'key-month' },
  /** CloudWatch Logs ingestion (standard class). */
  logsIngestGb: { usd: 0.5, per: 1, unit: 'GB ingested' },
  /** EventBridge Scheduler invocations (the dispatcher's one-minute trigger; a scheduled rule would be free). */
  schedulerInvocation: { usd: 1, per: 1_000_000, unit: 'invocations' },
} as const satisfies Record<string, Price>;

export type PriceName = keyof typeof PRICES;

/** Dollars for `amount` units of `price`. */
export function cost(price: PriceName, amount: number): number {
  const p: Price = PRICES[price];
  return (p.usd / p.per) * amount;
}

export function describePrice(name: PriceName): string {
  const p: Price = PRICES[name];
  const per = p.per === 1 ? '' : `${p.per.toLocaleString('en-US')} `;
  return `$${p.usd} per ${per}${p.unit}`;
}
