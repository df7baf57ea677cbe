// What `npm start` prints and writes to quickstart.json: where the API is,
// the demo tenant's key, the demo connections, and curl commands that show a
// change flowing both ways. Every command is meant to run as printed, in
// order, in one POSIX shell (steps 5 to 7 share $WRITE_ID); test/local runs
// them with a real curl.

export interface QuickstartCommand {
  title: string;
  command: string;
}

export interface DemoConnection {
  connectionId: string;
  email: string;
  cards: number;
}

export interface Quickstart {
  apiUrl: string;
  apiKey: string;
  tenantId: string;
  /** The first demo connection, the one the commands use (absent without the emulator). */
  connectionId?: string;
  connections: DemoConnection[];
  /** `emulator`: Google connections go to the local Google emulator; `google`: to Google itself. */
  google: 'emulator' | 'google';
  /** The redirect URI to register with a real Google OAuth client. */
  googleRedirectUri?: string;
  docsUrl: string;
  /** The operator's console; sign in with `apiKey`. */
  consoleUrl?: string;
  eventsUrl: string;
  dataDir: string;
  services: {
    dynamodb: { endpoint: string; pid: number };
    sqs: { endpoint: string; queues: Record<string, string> };
    emulator?: { url: string; controlUrl: string; accounts: string[] };
  };
  curl: QuickstartCommand[];
  /** A label flowing both ways on the first demo connection (absent without the emulator). */
  labels?: QuickstartCommand[];
}

/** One shell word, single-quoted. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function demoCommands(params: { apiUrl: string; apiKey: string; connectionId: string; email: string; cardId: string }): QuickstartCommand[] {
  const { apiUrl, connectionId } = params;
  const auth = `-H ${shellQuote(`Authorization: Bearer ${params.apiKey}`)}`;
  const json = `-H 'Content-Type: application/json'`;
  const con = encodeURIComponent(connectionId);
  const card = `${apiUrl}/_emulator/accounts/${encodeURIComponent(params.email).replace('%40', '@')}/cards/${encodeURIComponent(params.cardId)}`;
  const edit = JSON.stringify({ fullName: 'Ada Lovelace', note: 'Edited on the phone' });
  const contact = JSON.stringify({ fullName: 'Grace Hopper', emails: [{ value: 'grace@example.com', type: 'work' }], organization: { name: 'US Navy' } });
  return [
    { title: 'List the demo tenant\'s connections', command: `curl -sS ${apiUrl}/v1/connections ${auth}` },
    {
      title: `Edit a contact "on the phone": ${params.email}'s card in the Google emulator`,
      command: `curl -sS -X PATCH ${shellQuote(card)} ${json} -d ${shellQuote(edit)}`,
    },
    {
      title: 'Ask for a sync now (the schedule would get to it within a few minutes)',
      command: `curl -sS -X POST ${apiUrl}/v1/connections/${con}/sync ${auth}`,
    },
    {
      title: 'See the change arrive on the change feed as contact.updated (waits up to 30 s)',
      command: `curl -sS ${shellQuote(`${apiUrl}/_local/events?connectionId=${con}&type=contact.updated&wait=30`)}`,
    },
    {
      title: 'Write through the API: create a contact (queued; prints the write id)',
      command: `WRITE_ID=$(curl -sS -X POST ${apiUrl}/v1/connections/${con}/contacts ${auth} ${json} -d ${shellQuote(contact)} | sed -n 's/.*"writeId":"\\([^"]*\\)".*/\\1/p') && echo "$WRITE_ID"`,
    },
    {
      title: 'See the applier\'s write.applied event (waits up to 30 s)',
      command: `curl -sS "${apiUrl}/_local/events?writeId=$WRITE_ID&type=write.*&wait=30"`,
    },
    { title: 'The write\'s status: applied, with the new card\'s href and etag', command: `curl -sS "${apiUrl}/v1/writes/$WRITE_ID" ${auth}` },
    {
      title: 'The connection\'s change log: every event above, in order, from the start (send `next` as ?after= to read on)',
      command: `curl -sS ${shellQuote(`${apiUrl}/v1/connections/${con}/changes?limit=3`)} ${auth}`,
    },
  ];
}

/** A label both ways: through the API onto "Google" (made there when missing), and from "the phone" to the change feed. */
export function labelCommands(params: { apiUrl: string; apiKey: string; connectionId: string; email: string; cardId: string; contactId: string }): QuickstartCommand[] {
  const { apiUrl } = params;
  const auth = `-H ${shellQuote(`Authorization: Bearer ${params.apiKey}`)}`;
  const json = `-H 'Content-Type: application/json'`;
  const con = encodeURIComponent(params.connectionId);
  const account = `${apiUrl}/_emulator/accounts/${encodeURIComponent(params.email).replace('%40', '@')}`;
  const events = (query: string) => `curl -sS ${shellQuote(`${apiUrl}/_local/events?connectionId=${con}&${query}&wait=30`)}`;
  return [
    {
      title: 'Label the contact through the API: "Climbing", which Google does not have yet (the bridge makes it; prints the write)',
      command: `curl -sS -X PATCH ${apiUrl}/v1/connections/${con}/contacts/${encodeURIComponent(params.contactId)} ${auth} ${json} -d ${shellQuote(JSON.stringify({ labels: { add: ['Climbing'] } }))}`,
    },
    { title: 'See label.created for it on the change feed (waits up to 30 s)', command: events('type=label.created&label=Climbing') },
    { title: `"Google" has the label now, with the contact in it (the emulator's contact groups)`, command: `curl -sS ${shellQuote(`${account}/labels`)}` },
    {
      title: 'Label the same contact "on the phone": "Family"',
      command: `curl -sS -X POST ${shellQuote(`${account}/cards/${encodeURIComponent(params.cardId)}/labels`)} ${json} -d ${shellQuote(JSON.stringify({ add: ['Family'] }))}`,
    },
    { title: 'Ask for a sync now', command: `curl -sS -X POST ${apiUrl}/v1/connections/${con}/sync ${auth}` },
    { title: 'See it arrive as contact.updated with labelsChanged {"added":["Family"]} (waits up to 30 s)', command: events('type=contact.updated&label=Family') },
    { title: "The account's labels with member counts, through the API", command: `curl -sS ${apiUrl}/v1/connections/${con}/labels ${auth}` },
  ];
}

/**
 * Without the emulator there is no demo book to edit: the commands that work
 * against any connection, and (with a real Google client) the start of the
 * consent flow.
 */
export function baseCommands(params: { apiUrl: string; apiKey: string; googleConsent: boolean }): QuickstartCommand[] {
  const auth = `-H ${shellQuote(`Authorization: Bearer ${params.apiKey}`)}`;
  return [
    ...(params.googleConsent
      ? [
          {
            title: 'Connect your Google account: open the consentUrl this prints in a browser (it comes back to this API)',
            command: `curl -sS -X POST ${params.apiUrl}/v1/connect/google ${auth} -H 'Content-Type: application/json' -d '{}'`,
          },
        ]
      : []),
    { title: 'List the demo tenant\'s connections', command: `curl -sS ${params.apiUrl}/v1/connections ${auth}` },
    { title: 'The latest events on the change feed', command: `curl -sS ${shellQuote(`${params.apiUrl}/_local/events?limit=5`)}` },
  ];
}

export function formatQuickstart(q: Quickstart): string {
  const lines: string[] = [];
  lines.push('carddav-bridge is running locally. Ctrl-C stops everything.', '');
  lines.push(`  API        ${q.apiUrl}   (docs ${q.docsUrl})`);
  lines.push(`  API key    ${q.apiKey}   (tenant ${q.tenantId})`);
  if (q.consoleUrl !== undefined) lines.push(`  Console    ${q.consoleUrl}   (in a browser; sign in with the API key above)`);
  const width = Math.max(0, ...q.connections.map((c) => c.email.length));
  for (const [i, c] of q.connections.entries()) {
    lines.push(`  ${i === 0 ? 'Connected ' : '          '} ${c.email.padEnd(width)}  ${c.connectionId}  (${c.cards} contacts in the Google emulator)`);
  }
  if (q.google === 'google') {
    lines.push(`  Google     your OAuth client; register the redirect URI ${q.googleRedirectUri ?? '(none)'}`);
  }
  lines.push(`  Events     ${q.eventsUrl}   (the change feed, tailed)`);
  lines.push(`  Data       ${q.dataDir}   (kept between runs; --fresh starts clean)`);
  lines.push('');
  lines.push('Try it, in order, in one shell:');
  for (const [i, step] of q.curl.entries()) {
    lines.push('', `# ${i + 1}. ${step.title}`, step.command);
  }
  if (q.labels !== undefined && q.labels.length > 0) {
    lines.push('', 'Labels (Google\'s contact groups), both ways, in the same shell:');
    for (const [i, step] of q.labels.entries()) lines.push('', `# L${i + 1}. ${step.title}`, step.command);
  }
  lines.push('', `The same, as JSON: ${q.dataDir}/quickstart.json`, '');
  return lines.join('\n');
}
