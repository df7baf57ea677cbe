// The emulator's notion of "now": a base clock plus an offset that tests move
// forward to expire access tokens (1 h) and sync tokens (29 days) instantly.

export interface Clock {
  now(): number;
}

export interface EmulatorClock extends Clock {
  /** Move time forward (or back, with a negative value). */
  advance(ms: number): void;
  /** Replace the offset from the base clock. */
  setOffset(ms: number): void;
  readonly offsetMs: number;
}

export function createEmulatorClock(base: Clock = Date): EmulatorClock {
  let offset = 0;
  return {
    now: () => base.now() + offset,
    advance(ms: number) {
      offset += ms;
    },
    setOffset(ms: number) {
      offset = ms;
    },
    get offsetMs() {
      return offset;
    },
  };
}

const PACIFIC_OFFSET_MS = -8 * 3_600_000;

/**
 * Google's ETags look like "2019-02-28T01:49:18.255-08:00": a local time with
 * a fixed Pacific offset. DST is ignored; only the shape matters to clients.
 */
export function googleTimestamp(ms: number): string {
  const local = new Date(ms + PACIFIC_OFFSET_MS).toISOString(); // ...Z, shifted
  return `${local.slice(0, 23)}-08:00`;
}

/** vCard REV value, UTC, second precision. */
export function revTimestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
