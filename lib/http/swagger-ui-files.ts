// Which files of swagger-ui-dist /docs serves, and where the OpenAPI document
// /openapi.json serves is. Apart from lib/http/docs.ts so that infra/ can name
// them without importing the HTTP app.
export const SWAGGER_UI_PACKAGE = 'swagger-ui-dist';
export const DOCS_ASSETS_PATH = '/docs/assets';

/** The files of swagger-ui-dist the page loads, and their types. */
export const SWAGGER_UI_ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

/** The OpenAPI document generated at build time (`npm run openapi`), from the repository root. */
export const OPENAPI_FILE = 'lib/http/openapi.json';

/**
 * What the Lambda bundle must carry beside its code, relative to the
 * repository root: esbuild bundles only what is imported, and these are read
 * from disk at run time (infra/stack.ts copies them).
 */
export const DOCS_BUNDLE_FILES: readonly string[] = [...['package.json', ...Object.keys(SWAGGER_UI_ASSETS)].map((f) => `node_modules/${SWAGGER_UI_PACKAGE}/${f}`), OPENAPI_FILE];
