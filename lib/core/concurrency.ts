/**
 * Runs `fn` over `items`, at most `limit` at once. The first failure stops
 * further items and rejects once the ones in flight have settled (so nothing
 * is still running against a store or a server when the caller moves on).
 * A dozen lines: not worth a dependency such as p-limit.
 */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}
