// GET /openapi.json: the OpenAPI document generated at build time
// (lib/http/openapi-document.ts, `npm run openapi`), read from disk on the
// first request and kept: not generated at run time, so neither the generator
// nor zod's whole namespace is in the Lambda bundle, and not imported, so its
// 110 KB are not parsed at every cold start.
import { readFile } from 'node:fs/promises';
import type { Context, Hono } from 'hono';
import { BridgeError } from '../core/errors.ts';
import { OPENAPI_FILE } from './swagger-ui-files.ts';

export class OpenApiDocumentUnavailable extends BridgeError {}

// Beside this module when it runs from the repository; at its repository path
// under the bundle's directory when it runs bundled (the api's Lambda asset
// carries it there, DOCS_BUNDLE_FILES).
const CANDIDATES = [new URL('./openapi.json', import.meta.url), new URL(OPENAPI_FILE, import.meta.url)];

async function readDocument(): Promise<unknown> {
  const failures: unknown[] = [];
  for (const url of CANDIDATES) {
    try {
      return JSON.parse(await readFile(url, 'utf8')) as unknown;
    } catch (error) {
      failures.push(error);
    }
  }
  throw new OpenApiDocumentUnavailable(`The OpenAPI document ${OPENAPI_FILE} could not be read.`, { cause: new AggregateError(failures) });
}

export function registerOpenApiFile<E extends object>(app: Hono<E>, path: string): void {
  let document: Promise<unknown> | undefined;
  app.get(path, async (c: Context) => {
    document ??= readDocument().catch((error: unknown) => {
      document = undefined; // a later request tries again
      throw error;
    });
    return c.json(await document);
  });
}
