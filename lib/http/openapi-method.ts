// `.openapi(...)` for the served app. The schemas carry their OpenAPI
// metadata with zod-to-openapi's `.openapi(...)`, which only the OpenAPI
// document reads, and that document is generated at build time
// (lib/http/openapi-document.ts, `npm run openapi`). zod-to-openapi's
// extension takes zod's whole namespace, which keeps every zod module in the
// Lambda bundle (some 300 KB more); validation never reads the metadata, so
// here `.openapi(...)` leaves the schema as it is. Imported by every module
// that calls it, before its schemas are built. Where the generator has
// extended zod first, its `.openapi` is kept.
import { ZodType } from 'zod';

/** Marks this stand-in, so the generator can tell that it came too late. */
export const OPENAPI_STAND_IN = Symbol.for('carddav-bridge.openapi-stand-in');

interface StandIn {
  (this: ZodType): ZodType;
  [OPENAPI_STAND_IN]: true;
}

const prototype = ZodType.prototype as unknown as { openapi?: unknown };
if (prototype.openapi === undefined) {
  const keepSchema = Object.assign(function (this: ZodType) {
    return this;
  }, { [OPENAPI_STAND_IN]: true as const }) satisfies StandIn;
  // Assigned, as zod-to-openapi does: zod copies a prototype's own enumerable members onto each new schema.
  prototype.openapi = keepSchema;
}

/** Whether `.openapi(...)` on this zod is the stand-in above (the schemas then hold no metadata). */
export function hasOpenApiStandIn(): boolean {
  const method = prototype.openapi as Partial<StandIn> | undefined;
  return method?.[OPENAPI_STAND_IN] === true;
}
