// Progress on stderr: a redrawn bar on a terminal, nothing otherwise (a log
// or a pipe gets only the summary line).
import type { CardDavClient } from '../carddav/types.ts';
import type { CliIo } from './io.ts';

export interface Progress {
  listed(total: number): void;
  fetched(n: number): void;
  published(n: number): void;
  /** Clears the bar's line: call before writing to stdout, which may be the same terminal. */
  clear(): void;
  done(): void;
}

const WIDTH = 30;

export function createProgress(io: CliIo): Progress {
  if (!io.stderrIsTty) return { listed() {}, fetched() {}, published() {}, clear() {}, done() {} };
  let total = 0;
  let fetched = 0;
  let published = 0;
  let lastDraw = 0;
  let shown = false;
  const draw = (force = false): void => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const share = total > 0 ? Math.min(1, fetched / total) : 0;
    const filled = Math.round(share * WIDTH);
    const bar = total > 0 ? `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${fetched}/${total} cards` : `${fetched} cards`;
    io.stderr(`\r${bar}, ${published} events\x1b[K`);
    shown = true;
  };
  return {
    listed(n) {
      total += n;
      draw(true);
    },
    fetched(n) {
      fetched += n;
      draw();
    },
    published(n) {
      published += n;
      // Drawn again right away: the bar was cleared for the events just printed.
      draw(true);
    },
    clear() {
      if (shown) io.stderr('\r\x1b[K');
      shown = false;
    },
    done() {
      draw(true);
      io.stderr('\n');
    },
  };
}

/** Wraps the client port so the engine's calls report progress; behaviour is unchanged. */
export function withProgress(client: CardDavClient, progress: Progress): CardDavClient {
  return {
    ...client,
    async listEtags(params) {
      const members = await client.listEtags(params);
      progress.listed(members.length);
      return members;
    },
    async syncCollection(params) {
      const result = await client.syncCollection(params);
      progress.listed(result.changed.length);
      return result;
    },
    async *multiget(params) {
      for await (const batch of client.multiget(params)) {
        progress.fetched(batch.cards.length + batch.missing.length);
        yield batch;
      }
    },
  };
}
