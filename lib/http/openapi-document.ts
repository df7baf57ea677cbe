// The OpenAPI document, generated at build time: `npm run openapi` writes
// lib/http/openapi.json, which GET /openapi.json serves (lib/http/openapi-file.ts);
// test/http/openapi-file.test.ts fails while the file differs from what this
// generates. The routes are registered on an app as createApp builds it, and
// what they asked of `app.openAPIRegistry` is replayed into zod-to-openapi's
// registry: the document OpenAPIHono generated at run time before.
import './openapi-extend.ts';
import { writeFile } from 'node:fs/promises';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { BridgeError } from '../core/errors.ts';
import { createApp } from './app.ts';
import { hasOpenApiStandIn } from './openapi-method.ts';
import type { RegistryCall } from './openapi-app.ts';
import { OPENAPI_FILE } from './swagger-ui-files.ts';
import type { AppDeps } from './ports.ts';
import { BEARER_SCHEME } from './routes/openapi.ts';
import { CONTACT_ID_DESCRIPTION } from './schemas.ts';

const API_DESCRIPTION = [
  'Connect CardDAV address books, follow their changes as events, and write contacts back safely.',
  '',
  'Authentication: `Authorization: Bearer <API key>`. A resource of another tenant is a 404, never a 403.',
  '',
  'Errors are RFC 9457 problem details (`application/problem+json`) with a stable `type` URI per error; `errors` names each offending field by JSON pointer (body), `parameter`, `header` or vCard `line`.',
  '',
  'Writes (contact create/replace/patch/delete) are queued and answered with 202 and `Location: /v1/writes/{writeId}`. Every write accepts `Idempotency-Key`.',
  '',
  `Contact ids: ${CONTACT_ID_DESCRIPTION}`,
  '',
  'Google accounts are connected by consent: `POST /v1/connect/google` answers a URL for the account owner; `GET /oauth/google/callback` (no API key) creates the connection. A tenant may bring its own Google OAuth client (`PUT /v1/tenant/google-oauth-client`), so that its connections use its own quota.',
  '',
  'Webhooks: events of the tenant\'s connections are POSTed to its registered endpoints, signed per Standard Webhooks (HMAC-SHA256 over `webhook-id.webhook-timestamp.body`); deduplicate by `webhook-id`.',
  '',
  'Change log: every event of a connection is also kept in order, with a sequence, for the tenant\'s retention (7 days unless set, up to 35): `GET /v1/connections/{id}/changes?after=<cursor>` catches a consumer up; a cursor older than the retention answers 410 `cursor-expired`. `POST /v1/webhooks/{id}/replay` re-delivers from the logs with the original `webhook-id`s.',
].join('\n');

const API_TAGS = [
  { name: 'connections', description: 'Connected address books.' },
  { name: 'contacts', description: 'Queued writes to a connected address book.' },
  { name: 'writes', description: 'Outcomes of queued writes.' },
  { name: 'connect', description: 'Connecting Google accounts by OAuth consent.' },
  { name: 'tenant', description: "The tenant's own settings: its Google OAuth client." },
  { name: 'webhooks', description: 'Signed webhook endpoints and their delivery log.' },
  { name: 'meta', description: 'Health.' },
];

export class OpenApiGeneratorMisuse extends BridgeError {}

/**
 * Ports for registering the routes only: the document needs their
 * definitions, never a handler, so any use of one is a bug here.
 */
function unusable<T>(name: string): T {
  const fail = (): never => {
    throw new OpenApiGeneratorMisuse(`${name} was used while generating the OpenAPI document`);
  };
  return new Proxy(() => undefined, { get: fail, apply: fail }) as T;
}

function documentDeps(): AppDeps {
  return {
    apiKeys: unusable('apiKeys'),
    connections: unusable('connections'),
    discover: unusable('discover'),
    resolveHost: unusable('resolveHost'),
    writes: unusable('writes'),
    writeQueue: unusable('writeQueue'),
    idempotency: unusable('idempotency'),
    clock: unusable('clock'),
    newId: unusable('newId'),
    logger: unusable('logger'),
    // Keys no request fingerprint: no request is served.
    config: { localMode: false, requestHashSecret: 'openapi-document-only-'.padEnd(32, '-') },
  };
}

function replay(registry: OpenAPIRegistry, call: RegistryCall): void {
  if (call.method === 'register') registry.register(...call.args);
  else if (call.method === 'registerComponent') registry.registerComponent(...call.args);
  else if (call.method === 'registerPath') registry.registerPath(...call.args);
  else registry.registerWebhook(...call.args);
}

/** The document, as GET /openapi.json serves it (parsed). */
export function openApiDocument(): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  if (hasOpenApiStandIn()) {
    throw new OpenApiGeneratorMisuse('The schemas were built before zod-to-openapi extended zod: import lib/http/openapi-document.ts before anything of lib/http.');
  }
  const registry = new OpenAPIRegistry();
  for (const call of createApp(documentDeps()).openAPIRegistry.calls) replay(registry, call);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'carddav-bridge API', version: '1', description: API_DESCRIPTION },
    security: [{ [BEARER_SCHEME]: [] }],
    tags: API_TAGS,
  });
}

/** The file's text: indented for review, parsed again before it is served. */
export function openApiFileText(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}

if (import.meta.main) {
  const target = new URL(`../../${OPENAPI_FILE}`, import.meta.url);
  await writeFile(target, openApiFileText());
  process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
}
