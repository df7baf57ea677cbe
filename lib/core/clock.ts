// Time as a port: the engine, the store adapters and the API read the clock
// through this, so tests and the emulator can move it.
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
