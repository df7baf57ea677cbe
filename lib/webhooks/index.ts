// Per-tenant signed webhooks: signing (Standard Webhooks), endpoints and their
// ports, delivery, retry scheduling on a queue, dead letters.
// The SQS adapter is imported from './sqs.ts' by the wiring, not from here,
// so this barrel carries no AWS import.
export * from './errors.ts';
export * from './signing.ts';
export * from './endpoints.ts';
export * from './transport.ts';
export * from './deliver.ts';
export * from './schedule.ts';
export * from './jobs.ts';
