// What a scenario is, and what the runner hands it.
import type { Figure } from './report.ts';

export interface ScenarioOutput {
  /** Anything worth keeping in latest.json beyond the figures (raw samples, counts, assumptions). */
  details?: Record<string, unknown>;
}

export interface ScenarioContext {
  /** Prints and records one figure. */
  emit(figure: Figure): void;
  /** A progress line (not a figure). */
  log(message: string): void;
  /** Runs at the end of the scenario, last registered first, whether it succeeded or not. */
  defer(cleanup: () => Promise<unknown> | unknown): void;
  /** Details of scenarios that already ran in this invocation (for `needs`). */
  previous(name: string): ScenarioRecord | undefined;
}

export interface Scenario {
  name: string;
  summary: string;
  /** Scenarios whose results this one uses; the runner runs them first if they were not asked for. */
  needs?: string[];
  run(ctx: ScenarioContext): Promise<ScenarioOutput>;
}

export interface ScenarioRecord {
  name: string;
  ok: boolean;
  durationMs: number;
  figures: Figure[];
  details?: Record<string, unknown>;
  error?: string;
}
