// GET /: the dashboard (docs/dashboard.md), one page that `npm run build` makes (scripts/build-ui.mjs) with its
// script and styles inlined. Served by the broker's own server only, behind the token like every route; the
// page then calls the HTTP API with the token it was opened with.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { ErrorBody } from '../protocol/http-bodies.js';
import type { HttpEnv } from './api/route-kit.js';

// dist/ui is two folders up from both src/transports (tests, tsx) and dist/transports (the package).
const PAGE = new URL('../../dist/ui/index.html', import.meta.url);

interface Page {
  readonly html: string;
  readonly headers: Record<string, string>;
}

/** The page, and the headers that hold it to itself: its one inline script by hash, no framing, no referrer. */
async function loadPage(): Promise<Page | undefined> {
  const html = await readFile(PAGE, 'utf8').catch(() => undefined);
  if (html === undefined) return undefined;
  const script = /<script type="module">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
  const scriptHash = createHash('sha256').update(script).digest('base64');
  return {
    html,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      // The token may be in the page's URL: it goes in no Referer header.
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'content-security-policy': `default-src 'none'; script-src 'sha256-${scriptHash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
    },
  };
}

export function addDashboardRoute(app: OpenAPIHono<HttpEnv>): void {
  let page: Promise<Page | undefined> | undefined;
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'The dashboard: a page for people (docs/dashboard.md); open it as /?token=<EVENTBUS_TOKEN> when a token is set',
      responses: {
        200: { content: { 'text/html': { schema: z.string() } }, description: 'the page' },
        404: { content: { 'application/json': { schema: ErrorBody } }, description: 'the package was not built' },
      },
    }),
    async (c) => {
      // Read once it is there; a checkout that was not built yet is told so, and may build without a restart.
      page ??= loadPage();
      const loaded = await page;
      if (loaded === undefined) {
        page = undefined;
        return c.json({ code: 'BAD_FORMAT', message: 'the dashboard is not built: run npm run build' }, 404);
      }
      return c.html(loaded.html, 200, loaded.headers);
    },
  );
}
