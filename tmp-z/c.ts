import { OpenAPIHono } from '@hono/zod-openapi';
console.log(new OpenAPIHono());
