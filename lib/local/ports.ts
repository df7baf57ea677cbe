// Free loopback ports for local services that cannot bind port 0 themselves
// (DynamoDB Local takes a fixed -port). lib/ must not import test/support.
import { createServer } from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago; the caller retries if someone else takes it first. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('the OS gave no port'))));
    });
  });
}
