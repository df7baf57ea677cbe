// The `carddav-bridge` commands, runnable in tests with an injected CliIo.
import { EXIT } from './args.ts';
import { discoverCommand } from './discover.ts';
import { exitFor } from './errors.ts';
import { statusCommand } from './status.ts';
import { syncCommand } from './sync.ts';
import { keysCommand, tenantsCommand } from './tenants.ts';
import type { CliIo } from './io.ts';

type Command = (argv: string[], io: CliIo) => Promise<number>;

const commands: Record<string, Command> = {
  discover: discoverCommand,
  sync: syncCommand,
  tenants: tenantsCommand,
  keys: keysCommand,
  status: statusCommand,
};

const usage = `Usage: carddav-bridge <command> [options]

Commands:
  discover   find the address books of an account on a CardDAV server
  sync       run one sync of an address book, printing each change event as a JSON line
  tenants    create a tenant (tenants create --name N)
  keys       create or revoke a tenant's API key (keys create --tenant T, keys revoke --key-id K)
  status     a tenant's overview: connections by status, sync lag, events, writes, worst first

Run 'carddav-bridge <command> --help' for a command's options.`;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    (name ? io.stdout : io.stderr)(usage + '\n');
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = commands[name];
  if (!command) {
    io.stderr(`unknown command: ${name}\n${usage}\n`);
    return EXIT.usage;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    const { code, reason } = exitFor(err);
    io.stderr(`carddav-bridge ${name}: ${reason}\n`);
    return code;
  }
}

