// Errors of a connection's access to its server (lib/connections); the base (name and `cause`) is the kernel's.
import { BridgeError } from '../core/errors.ts';

export class ConnectionAccessError extends BridgeError {}

/**
 * A connection was made with its tenant's own OAuth client, and this process
 * was composed without the store of tenants' clients: our wiring, not the
 * account's, so the job is retried (and alarmed on) rather than the connection marked.
 */
export class TenantClientsNotConfigured extends ConnectionAccessError {}
