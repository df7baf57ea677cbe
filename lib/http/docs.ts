// The API reference at /docs: @hono/swagger-ui's page, with Swagger UI's
// script and styles served by the app itself from the pinned `swagger-ui-dist`
// package instead of a CDN, so the page works offline and cannot change under us.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { swaggerUI } from '@hono/swagger-ui';
import type { Context, Hono, Next } from 'hono';
import { NotFound } from './problems.ts';
import { DOCS_ASSETS_PATH, SWAGGER_UI_ASSETS, SWAGGER_UI_PACKAGE as PACKAGE } from './swagger-ui-files.ts';

// A versioned URL can be cached for good: an upgrade changes the URL.
const IMMUTABLE = 'public, max-age=31536000, immutable';

// Everything the page loads comes from the app: a browser refuses anything else.
const DOCS_CSP = [
  "default-src 'self'",
  // @hono/swagger-ui starts Swagger UI from an inline script.
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export class DocsAssetUnavailable extends Error {
  constructor(file: string, cause: unknown) {
    super(`The API reference's asset ${PACKAGE}/${file} could not be read.`, { cause });
    this.name = new.target.name;
  }
}

/** The package's files, each read once on first use (not at cold start), and kept. */
function assetReader() {
  const read = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();
  const load = (file: string): Promise<Uint8Array<ArrayBuffer>> => {
    let pending = read.get(file);
    if (pending === undefined) {
      pending = (async () => {
        try {
          const dir = dirname(createRequire(import.meta.url).resolve(`${PACKAGE}/package.json`));
          // Copied once into a plain ArrayBuffer: what a Response body takes.
          return new Uint8Array(await readFile(join(dir, file)));
        } catch (error) {
          read.delete(file); // a later request tries again
          throw new DocsAssetUnavailable(file, error);
        }
      })();
      read.set(file, pending);
    }
    return pending;
  };
  let version: Promise<string> | undefined;
  return {
    load,
    version: (): Promise<string> => (version ??= load('package.json').then((b) => String((JSON.parse(new TextDecoder().decode(b)) as { version: unknown }).version))),
  };
}

export function registerDocsRoutes<E extends object>(app: Hono<E>, params: { openApiPath: string; title: string }): void {
  const assets = assetReader();

  app.get('/docs', async (c: Context, next: Next) => {
    const version = await assets.version();
    c.header('Content-Security-Policy', DOCS_CSP);
    // Pages link `${baseUrl}/swagger-ui-dist@${version}/<file>`. `validatorUrl: none`: no badge fetched from swagger.io.
    const page = swaggerUI({ url: params.openApiPath, title: params.title, baseUrl: DOCS_ASSETS_PATH, version, validatorUrl: 'none' });
    return (await page(c, next)) as Response;
  });

  app.get(`${DOCS_ASSETS_PATH}/:release/:file`, async (c: Context) => {
    const { release, file } = c.req.param() as { release: string; file: string };
    const type = Object.hasOwn(SWAGGER_UI_ASSETS, file) ? SWAGGER_UI_ASSETS[file] : undefined;
    if (type === undefined || release !== `${PACKAGE}@${await assets.version()}`) throw new NotFound(`No asset ${c.req.path}.`);
    const body = await assets.load(file);
    return c.body(body, 200, { 'Content-Type': type, 'Cache-Control': IMMUTABLE, 'X-Content-Type-Options': 'nosniff' });
  });
}
