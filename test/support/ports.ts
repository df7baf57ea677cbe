import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1, for servers that cannot bind port 0 themselves. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls until `probe` resolves true or the deadline passes. */
export async function waitFor(probe: () => Promise<boolean>, params: { timeoutMs: number; what: string }): Promise<void> {
  const deadline = Date.now() + params.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${params.what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
