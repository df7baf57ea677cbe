// When a failed delivery is tried again. The default is Svix's published
// schedule: roughly exponential, the first retries quick (a blip), the last
// ones hours apart (an outage), about 27.5 hours in all before the message
// is dead-lettered.

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * `schedule[n]` is the wait before attempt n + 1; attempt 1 goes at once
 * (index 0). The number of attempts is the schedule's length.
 */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [0, 5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];

/** Each wait is spread over ±10 %: endpoints that failed together do not all come back at once. */
export const DEFAULT_JITTER = 0.2;

/**
 * The wait after attempt `attempt` failed, or undefined when it was the last.
 * `random` is a [0, 1) source (Math.random in production, seeded in tests).
 */
export function retryDelayMs(params: { attempt: number; schedule?: readonly number[]; random: () => number; jitter?: number }): number | undefined {
  const schedule = params.schedule ?? DEFAULT_RETRY_SCHEDULE_MS;
  const base = schedule[params.attempt];
  if (base === undefined || params.attempt < 1) return undefined;
  const jitter = params.jitter ?? DEFAULT_JITTER;
  return Math.round(base * (1 - jitter / 2 + params.random() * jitter));
}

/** The shortest time from the first attempt to the last one, with the jitter at its low end. */
export function minimumRetryWindowMs(params: { schedule?: readonly number[]; jitter?: number } = {}): number {
  const schedule = params.schedule ?? DEFAULT_RETRY_SCHEDULE_MS;
  const jitter = params.jitter ?? DEFAULT_JITTER;
  return schedule.slice(1).reduce((sum, ms) => sum + ms * (1 - jitter / 2), 0);
}
