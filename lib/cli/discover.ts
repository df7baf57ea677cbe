import { createCardDavClient } from '../carddav/client.ts';
import type { Discovery } from '../carddav/types.ts';
import { cliOutbound, EXIT, parse, serverFromArgs, serverOptions } from './args.ts';
import type { CliIo } from './io.ts';

export const discoverUsage = `Usage: carddav-bridge discover --server URL (--username U --password-env VAR | --bearer-env VAR) [--json]

Finds the principal, the address book home set and each address book of an account.
Credentials are read from the environment variable you name, never from the command line.
Exit codes: 0 found, 2 usage, 3 auth refused, 4 no address book, 5 protocol or network error.`;

export async function discoverCommand(argv: string[], io: CliIo): Promise<number> {
  const values = parse(argv, { ...serverOptions, json: { type: 'boolean' } });
  if (values.help) {
    io.stdout(discoverUsage + '\n');
    return EXIT.ok;
  }
  const { serverUrl, auth } = serverFromArgs(values, io.env);
  const outbound = cliOutbound(serverUrl);
  let found: Discovery;
  try {
    found = await createCardDavClient({ ...(auth ? { auth } : {}), fetch: outbound.fetch }).discover({ serverUrl });
  } finally {
    await outbound.close();
  }
  io.stdout(values.json ? JSON.stringify(found, null, 2) + '\n' : formatDiscovery(found));
  if (found.addressBooks.length === 0) {
    io.stderr('no address book found\n');
    return EXIT.noAddressBook;
  }
  return EXIT.ok;
}

function formatDiscovery(d: Discovery): string {
  const lines = [
    `server:     ${d.serverUrl}`,
    `landed on:  ${d.contextUrl}`,
    `principal:  ${d.principalUrl ?? '(not offered)'}`,
    `home set:   ${d.homeSetUrl ?? '(not offered)'}`,
    `address books: ${d.addressBooks.length}`,
  ];
  for (const book of d.addressBooks) {
    lines.push(
      `- ${book.url}`,
      `    name:            ${book.displayName ?? '(none)'}`,
      `    ctag:            ${book.ctag ?? '(none)'}`,
      `    sync token:      ${book.syncToken ?? '(none)'}`,
      `    sync-collection: ${book.supportsSyncCollection ? 'yes' : 'no'}`,
      `    POST add-member: ${book.addMemberUrl ? `yes (${book.addMemberUrl})` : 'no'}`,
    );
  }
  return lines.join('\n') + '\n';
}
