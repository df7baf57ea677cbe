// Log cursors: opaque to consumers, a position in one connection's log to us.
// The connection is part of the cursor so a cursor sent to the wrong
// connection is refused instead of silently meaning another position, and so
// a webhook replay can name its log by the cursor alone.
import { InvalidCursor } from './errors.ts';

const PREFIX = 'v1.';
const MAX_CURSOR_LENGTH = 1_024;

export interface LogPosition {
  connectionId: string;
  /** The last sequence the consumer has; 0 is "before the first entry". */
  sequence: number;
}

export function encodeCursor(position: LogPosition): string {
  return Buffer.from(`${PREFIX}${position.sequence}.${position.connectionId}`, 'utf8').toString('base64url');
}

/** The position a cursor names; InvalidCursor for anything this log did not issue. */
export function decodeCursor(cursor: string): LogPosition {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new InvalidCursor('the cursor is not one this API issued');
  }
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^v1\.(0|[1-9][0-9]{0,14})\.(.+)$/s.exec(text);
  if (match === null) throw new InvalidCursor('the cursor is not one this API issued');
  return { sequence: Number(match[1]), connectionId: match[2]! };
}

/** The position in `connectionId`'s log; InvalidCursor when the cursor is another connection's. */
export function positionIn(params: { cursor: string; connectionId: string }): number {
  const position = decodeCursor(params.cursor);
  if (position.connectionId !== params.connectionId) throw new InvalidCursor('the cursor belongs to another connection');
  return position.sequence;
}
