// zod-to-openapi's `.openapi(...)` on zod, for the document's generator only:
// imported before any schema is built (lib/http/openapi-document.ts imports it
// first), so the schemas carry their metadata. The served app never loads it
// (lib/http/openapi-method.ts).
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);
