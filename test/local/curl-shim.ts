// Stands in for curl where the machine has none: the quickstart's commands
// are shell lines, so the test runs them in a shell either way, and this
// parses the few curl flags they use (-s, -S, -X, -H, -d, one URL) and
// replays the request with fetch. The real curl is preferred (stack.test.ts).
const args = process.argv.slice(2);
let method: string | undefined;
const headers = new Headers();
let body: string | undefined;
let url: string | undefined;

for (let i = 0; i < args.length; i++) {
  const a = args[i] ?? '';
  if (/^-[sS]+$/.test(a)) continue;
  if (a === '-X' || a === '--request') method = args[++i];
  else if (a === '-H' || a === '--header') {
    const h = args[++i] ?? '';
    const colon = h.indexOf(':');
    if (colon > 0) headers.set(h.slice(0, colon).trim(), h.slice(colon + 1).trim());
  } else if (a === '-d' || a === '--data' || a === '--data-raw') body = args[++i];
  else if (a.startsWith('-')) {
    process.stderr.write(`curl-shim: unsupported option ${a}\n`);
    process.exit(2);
  } else url = a;
}

if (url === undefined) {
  process.stderr.write('curl-shim: no URL\n');
  process.exit(2);
}
if (body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded');

try {
  const res = await fetch(url, { method: method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body === undefined ? {} : { body }) });
  process.stdout.write(await res.text());
} catch (error) {
  process.stderr.write(`curl: (7) ${(error as Error).message}\n`);
  process.exit(7);
}
