// The app's routes as @hono/zod-openapi declares them (`createRoute`,
// `app.openapi(route, handler)`, `app.openAPIRegistry`), served without that
// package: it loads zod-to-openapi and extends zod's whole namespace, which
// the Lambda bundle cannot afford (lib/http/openapi-method.ts). Here a route
// is validated the way its `openapi()` validates it (the same zod validator,
// the same media-type gate) and recorded; lib/http/openapi-document.ts replays
// the record into zod-to-openapi's registry at build time, so the document is
// what OpenAPIHono generated.
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { OpenAPIHonoOptions, RouteConfig, RouteConfigToEnv, RouteHandler } from '@hono/zod-openapi';
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context, type MiddlewareHandler, type Next } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { AppEnv } from './middleware.ts';

/** What `app.openAPIRegistry` was asked, in order: replayed into zod-to-openapi's registry by the document's generator. */
export type RegistryCall =
  | { method: 'register'; args: Parameters<OpenAPIRegistry['register']> }
  | { method: 'registerComponent'; args: Parameters<OpenAPIRegistry['registerComponent']> }
  | { method: 'registerPath'; args: Parameters<OpenAPIRegistry['registerPath']> }
  | { method: 'registerWebhook'; args: Parameters<OpenAPIRegistry['registerWebhook']> };

/** The part of zod-to-openapi's OpenAPIRegistry the routes use, recorded instead of generated. */
export class RegistryRecord {
  readonly calls: RegistryCall[] = [];
  register(...args: Parameters<OpenAPIRegistry['register']>): void {
    this.calls.push({ method: 'register', args });
  }
  registerComponent(...args: Parameters<OpenAPIRegistry['registerComponent']>): void {
    this.calls.push({ method: 'registerComponent', args });
  }
  registerPath(...args: Parameters<OpenAPIRegistry['registerPath']>): void {
    this.calls.push({ method: 'registerPath', args });
  }
  registerWebhook(...args: Parameters<OpenAPIRegistry['registerWebhook']>): void {
    this.calls.push({ method: 'registerWebhook', args });
  }
}

/** @hono/zod-openapi's `createRoute`, for its typing: the config is the route. */
export function createRoute<P extends string, R extends Omit<RouteConfig, 'path'> & { path: P }>(config: R): R {
  return config;
}

type Hook = NonNullable<OpenAPIHonoOptions<AppEnv>['defaultHook']>;

/** `app.openapi(route, handler)`: the handler typed by the route, as OpenAPIHono types it. */
export type RouteMethod = <R extends RouteConfig>(route: R, handler: RouteHandler<R, RouteConfigToEnv<R> & AppEnv>) => void;

export class OpenApiApp extends Hono<AppEnv> {
  readonly openAPIRegistry = new RegistryRecord();
  readonly #hook: Hook;

  constructor(options: { defaultHook: Hook }) {
    super();
    this.#hook = options.defaultHook;
  }

  openapi: RouteMethod = (config, handler) => {
    const { middleware, hide, ...route } = config;
    if (hide !== true) this.openAPIRegistry.registerPath(route);
    const before = middleware === undefined ? [] : Array.isArray(middleware) ? middleware : [middleware];
    const add = this.on as (method: string[], path: string[], ...handlers: unknown[]) => unknown;
    add.call(this, [route.method], [route.path.replaceAll(/\/{(.+?)}/g, '/:$1')], ...before, ...requestValidators(route.request, this.#hook), handler);
  };
}

type Validator = MiddlewareHandler<AppEnv>;

function validate(target: 'query' | 'param' | 'header' | 'cookie' | 'json', schema: unknown, hook: Hook): Validator {
  return zValidator(target, schema as Parameters<typeof zValidator>[1], hook as Parameters<typeof zValidator>[2]) as unknown as Validator;
}

/** The validators OpenAPIHono puts before a route's handler: query, path, headers, cookies, then the body. */
function requestValidators(request: RouteConfig['request'], hook: Hook): Validator[] {
  const out: Validator[] = [];
  if (request?.query) out.push(validate('query', request.query, hook));
  if (request?.params) out.push(validate('param', request.params, hook));
  if (request?.headers) out.push(validate('header', request.headers, hook));
  if (request?.cookies) out.push(validate('cookie', request.cookies, hook));
  const body = request?.body;
  if (body?.content !== undefined) out.push(...bodyValidators(body.content, body.required === true, hook));
  return out;
}

const isZod = (x: unknown): boolean => typeof (x as { safeParseAsync?: unknown } | undefined)?.safeParseAsync === 'function';
const isJsonType = (type: string): boolean => /^application\/([a-z-.]+\+)?json/i.test(type);
const isFormType = (type: string): boolean => /^(multipart\/form-data|application\/x-www-form-urlencoded)/i.test(type);

/** A body described by a zod schema as JSON: the media-type gate, then the JSON validator (an absent optional body validates as `{}`). */
function bodyValidators(content: object, required: boolean, hook: Hook): Validator[] {
  const declared = Object.keys(content);
  const schemaOf = (type: string): unknown => (content as Record<string, { schema?: unknown } | undefined>)[type]?.schema;
  // OpenAPIHono validates form bodies too; no route has one, and one added here must not go unvalidated.
  if (declared.some((type) => isFormType(type) && isZod(schemaOf(type)))) throw new Error('A form body is not supported by lib/http/openapi-app.ts: add its validator there.');
  const json = declared.filter((type) => isJsonType(type) && isZod(schemaOf(type)));
  if (json.length === 0) return [];
  const out: Validator[] = [mediaTypeGate(declared)];
  for (const type of json) {
    const validator = validate('json', schemaOf(type), hook);
    out.push(required ? validator : optionalJson(validator));
  }
  return out;
}

function optionalJson(validator: Validator): Validator {
  return async (c, next) => {
    const type = c.req.header('content-type');
    if (type && isJsonType(type)) return validator(c, next);
    c.req.addValidatedData('json', {});
    await next();
  };
}

const JSON_REQUEST = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

function matchesMediaType(contentType: string, mediaType: string): boolean {
  if (mediaType === '*/*') return true;
  if (isJsonType(mediaType)) return JSON_REQUEST.test(contentType);
  const essence = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (mediaType.endsWith('/*')) return essence.startsWith(mediaType.slice(0, -1).toLowerCase());
  return essence === mediaType.toLowerCase();
}

/** 415 for a Content-Type the route does not declare, or a body sent without one. */
function mediaTypeGate(declared: readonly string[]): Validator {
  return async (c: Context<AppEnv>, next: Next) => {
    const type = c.req.header('content-type');
    if (type ? !declared.some((mediaType) => matchesMediaType(type, mediaType)) : await hasRequestBody(c)) {
      throw new HTTPException(415, { message: 'Unsupported Media Type' });
    }
    await next();
  };
}

async function hasRequestBody(c: Context<AppEnv>): Promise<boolean> {
  const raw = c.req.raw;
  if (raw.body === null) return false;
  if (raw.bodyUsed) return (await c.req.arrayBuffer()).byteLength > 0;
  const body = raw.clone().body;
  if (body === null) return false;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return false;
      if (value.byteLength > 0) return true;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
