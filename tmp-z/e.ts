import * as z from 'zod';
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
extendZodWithOpenApi(z);
console.log(z.object({ a: z.string().email(), b: z.enum(['x']), c: z.array(z.number().int()).optional() }).parse({ a: 'x' }));
