// `/`: a small page that says what this is and where to go next. Plain HTML
// from hono/html: no build step, no script, nothing loaded from elsewhere.
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';

export interface LandingLink {
  href: string;
  label: string;
  description: string;
}

// No script, no outside resource: only the inline styles below.
const LANDING_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b; }
  h1 { font-size: 1.6rem; margin-bottom: 0.25rem; }
  ul { padding: 0; list-style: none; }
  li { margin: 1rem 0; }
  a { font-weight: 600; }
  code { background: #f2f2f2; padding: 0 0.25rem; }
`;

function page(links: readonly LandingLink[]) {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>carddav-bridge</title>
    <style>${STYLE}</style>
  </head>
  <body>
    <main>
      <h1>carddav-bridge</h1>
      <p>Keeps CardDAV address books (Google Contacts first) in step with your systems and publishes every change as an event.</p>
      <nav aria-label="Start here">
        <ul>
          ${links.map((l) => html`<li><a href="${l.href}">${l.label}</a><br />${l.description}</li>`)}
        </ul>
      </nav>
      <p>Every <code>/v1</code> call takes an API key as <code>Authorization: Bearer &lt;key&gt;</code>.</p>
    </main>
  </body>
</html>`;
}

export function registerLandingRoute<E extends object>(app: Hono<E>, links: readonly LandingLink[]): void {
  app.get('/', (c: Context) => {
    c.header('Content-Security-Policy', LANDING_CSP);
    return c.html(page(links));
  });
  // Browsers ask for it on every page; "no icon", cached, instead of a 404 problem in their consoles.
  app.get('/favicon.ico', (c: Context) => c.body(null, 204, { 'Cache-Control': 'public, max-age=86400' }));
}
