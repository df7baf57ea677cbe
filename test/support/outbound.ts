// The pinned HTTP client in local mode: how tests reach CardDAV servers on
// 127.0.0.1 through the same client production uses (loopback allowed by
// configuration, every other non-public address still refused).
import { sharedOutbound } from '../../lib/net/outbound.ts';
import type { FetchLike } from '../../lib/carddav/types.ts';

export const localFetch: FetchLike = sharedOutbound({ localMode: true }).fetch;
