// The one way an unknown thrown value becomes text for a log line, a problem detail or a
// stored failure: the error's name and message, or the value itself for a non-Error throw.
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

// The message alone, for places whose wording names the failure already.
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
