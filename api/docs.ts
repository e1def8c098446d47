// GET /docs: interactive documentation of /v1/openapi.json (Swagger UI), served from node_modules
// (swagger-ui-dist), so it works offline and loads nothing from elsewhere; the Content-Security-Policy
// says so. "Try it out" calls this API with the key given under "Authorize" (kept in the page only).
import fs from 'node:fs';
import path from 'node:path';
import express, { Router, type Response } from 'express';
import { ApiError } from './errors';

/** The swagger-ui-dist folder, or undefined when the package is not installed. */
function swaggerUiDir(): string | undefined {
  try {
    return path.dirname(require.resolve('swagger-ui-dist/package.json'));
  } catch {
    return undefined;
  }
}

// The page's own code: no inline script, so the policy can forbid them. Swagger UI sets style
// attributes and uses data: images (icons), hence 'unsafe-inline' for styles and data: for images.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Keel API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.ui = SwaggerUIBundle({
  url: '/v1/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  // No call to the public validator (offline, and the document is checked by schemathesis instead).
  validatorUrl: null,
  persistAuthorization: false,
  tryItOutEnabled: false,
});
`;

/** Only what the page uses: the bundle, its CSS and the icons (not swagger-ui-dist's demo index.html). */
const ASSETS = new Set(['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-16x16.png', 'favicon-32x32.png']);

function headers(res: Response): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
}

export function docsRouter(): Router {
  const r = Router();
  const dir = swaggerUiDir();
  const missing = () => new ApiError(500, 'INTERNAL', 'the interactive docs need the swagger-ui-dist package (npm ci); /v1/openapi.json is served regardless');
  r.get('/docs', (_req, res, next) => {
    if (!dir) return next(missing());
    headers(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(PAGE);
  });
  r.get('/docs/init.js', (_req, res) => {
    headers(res);
    res.type('application/javascript').send(INIT);
  });
  const assets = dir ? express.static(dir, { index: false, maxAge: '1h', fallthrough: true }) : undefined;
  r.use('/docs/assets', (req, res, next) => {
    const name = req.path.replace(/^\//, '');
    if (!assets || !ASSETS.has(name) || !fs.existsSync(path.join(dir!, name))) return next();
    headers(res);
    assets(req, res, next);
  });
  return r;
}
