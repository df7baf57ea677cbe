// Figures, goals and how they are printed. A figure is one measured (or
// derived) number; a ratio is always against a peer or a floor measured in the
// same run, because absolute times drift from machine to machine and run to run.

export interface Goal {
  /** What is compared with the limit: the figure's value, or its ratio. */
  on: 'value' | 'ratio';
  op: '<' | '<=';
  limit: number;
}

export interface Figure {
  /** `<scenario>.<what>`, e.g. `radicale-5000.carddav-phase`. */
  name: string;
  value: number;
  unit: string;
  /** Value divided by the same quantity of `against`, measured in the same run. */
  ratio?: { against: string; value: number };
  goal?: Goal & { met: boolean };
  /** A short qualifier printed after the figure (the assumption it rests on, the sample size). */
  note?: string;
}

export function figure(params: {
  name: string;
  value: number;
  unit: string;
  ratio?: { against: string; value: number };
  goal?: Goal;
  note?: string;
}): Figure {
  const f: Figure = { name: params.name, value: params.value, unit: params.unit };
  if (params.ratio !== undefined) f.ratio = params.ratio;
  if (params.goal !== undefined) {
    const subject = params.goal.on === 'ratio' ? params.ratio?.value : params.value;
    if (subject === undefined) throw new Error(`figure ${params.name}: a goal on the ratio needs a ratio`);
    const met = params.goal.op === '<' ? subject < params.goal.limit : subject <= params.goal.limit;
    f.goal = { ...params.goal, met };
  }
  if (params.note !== undefined) f.note = params.note;
  return f;
}

/** Significant digits that keep small and large numbers readable. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return value.toLocaleString('en-US');
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 10) return value.toFixed(2);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  // Small money amounts and shares: three significant digits.
  return value.toPrecision(3);
}

function formatValue(value: number, unit: string): string {
  if (unit === '$') return `$${value === 0 ? '0' : value < 1 ? value.toPrecision(3) : value.toFixed(2)}`;
  return unit === '' ? formatNumber(value) : `${formatNumber(value)} ${unit}`;
}

function formatGoal(goal: Goal, unit: string): string {
  if (goal.on === 'ratio') return `${goal.op} ${goal.limit}x`;
  return `${goal.op} ${formatValue(goal.limit, unit)}`;
}

export function formatFigure(f: Figure, nameWidth = 0): string {
  const parts = [f.name.padEnd(nameWidth), formatValue(f.value, f.unit)];
  if (f.ratio !== undefined) parts.push(`ratio vs ${f.ratio.against} ${f.ratio.value.toFixed(2)}x`);
  if (f.goal !== undefined) parts.push(`(goal ${formatGoal(f.goal, f.unit)}) ${f.goal.met ? 'OK' : 'MISS'}`);
  if (f.note !== undefined) parts.push(`[${f.note}]`);
  return parts.join('  ');
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const MIB = 1024 * 1024;
