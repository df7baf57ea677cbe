// The base error of the local stack and of the data folder's lock (lib/local,
// and lib/cli, which shares the folder).
import { BridgeError } from '../core/errors.ts';

export class LocalStackError extends BridgeError {}
