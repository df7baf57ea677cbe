export { freePort } from '../../lib/local/ports.ts';

/** Polls until `probe` resolves true or the deadline passes. */
export async function waitFor(probe: () => Promise<boolean>, params: { timeoutMs: number; what: string }): Promise<void> {
  const deadline = Date.now() + params.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${params.what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
