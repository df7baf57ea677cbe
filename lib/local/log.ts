// The local stack's log: one short line per entry on stderr (stdout is the
// quickstart's), instead of the JSON lines Powertools writes for CloudWatch.
// It is every log port at once: lib/wiring's Log, lib/http's and lib/writes'
// Logger, and the poller's.
import type { Log, LogFields, MetricsSink } from '../wiring/telemetry.ts';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export interface LineLog extends Log {
  /** A log whose every line carries `fields` first. */
  child(fields: LogFields): LineLog;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(`${value.name}: ${value.message}`);
  if (typeof value === 'string') return /^[\w.:/@#+-]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return '[unprintable]';
  }
}

/** `12:03:04.567 warn  message key=value ...` */
export function formatLine(params: { at: Date; level: LogLevel; message: string; fields?: LogFields }): string {
  const time = params.at.toISOString().slice(11, 23);
  const fields = Object.entries(params.fields ?? {})
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(' ');
  return `${time} ${params.level.padEnd(5)} ${params.message}${fields === '' ? '' : ` ${fields}`}`;
}

export function createLineLog(params: { level: LogLevel; write?: (line: string) => void; fields?: LogFields }): LineLog {
  const min = LOG_LEVELS.indexOf(params.level);
  const write = params.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = params.fields ?? {};
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    write(formatLine({ at: new Date(), level, message, fields: { ...base, ...fields } }));
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => createLineLog({ ...params, fields: { ...base, ...fields } }),
  };
}

/** Metrics go nowhere locally: CloudWatch's EMF lines would only bury the log. */
export const noMetrics: MetricsSink = {
  count: () => undefined,
  milliseconds: () => undefined,
};
