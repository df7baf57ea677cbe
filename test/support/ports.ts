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

/**
 * A loopback port where nothing listens, for "connection refused" tests. It is
 * below the ephemeral range the OS draws port 0 from, so it is never handed to
 * another test's server (a freed port can be, and then answers a stray
 * request); and unlike port 1 it is not on fetch's "bad port" list.
 */
export const CLOSED_PORT = 2;
