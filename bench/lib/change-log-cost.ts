// What the change log (lib/changelog, lib/store/change-log.ts: every published
// event appended to LOG#<connectionId>) costs in a measured run: its write and
// read units, told apart from the rest by partition (bench/lib/counting.ts),
// and its share of the run's DynamoDB bill at list prices (bench/prices.ts).
import { cost } from '../prices.ts';
import type { DynamoCounts } from './counting.ts';

export const LOG_PARTITION = 'LOG#';

export interface ChangeLogCost {
  /** Billed write units on LOG# items (transactions by AWS's rule). */
  writeUnits: number;
  readUnits: number;
  /** Share of the run's billed write units. */
  writeShare: number;
  /** Share of the run's DynamoDB request cost (write and read units at list prices). */
  costShare: number;
}

export function changeLogCost(d: DynamoCounts): ChangeLogCost {
  const writeUnits = d.billedWriteUnitsByPartition[LOG_PARTITION] ?? 0;
  const readUnits = d.readUnitsByPartition[LOG_PARTITION] ?? 0;
  const log = cost('dynamoWriteUnit', writeUnits) + cost('dynamoReadUnit', readUnits);
  const all = cost('dynamoWriteUnit', d.billedWriteUnits) + cost('dynamoReadUnit', d.readUnits);
  return { writeUnits, readUnits, writeShare: d.billedWriteUnits === 0 ? 0 : writeUnits / d.billedWriteUnits, costShare: all === 0 ? 0 : log / all };
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}
