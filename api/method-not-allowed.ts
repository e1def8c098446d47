// 405 for a method a documented path does not have, with `Allow` listing the methods it has; 204 with
// `Allow` for OPTIONS. The one source is the OpenAPI document's paths (what api/openapi.ts documents
// is what the routers serve; test/api/openapi-fuzz.test.ts checks both against each other), so no
// list of methods is kept by hand. Paths the document does not list (console assets, typos) are left
// to the routers and end as 404.
//
// Mounted before authentication: which methods a path has is public (the document is), and a client
// that used the wrong method learns that rather than "missing key".
//
// Matching follows express's defaults: case-insensitive, one trailing slash ignored, a `{param}`
// matches one non-empty path segment whatever its value (the router then checks the value itself).
// As OpenAPI says, a concrete path wins over a templated one: /v1/campaigns/preview is that path
// alone, not also /v1/campaigns/{id} (of the paths a request matches, those with the most literal
// segments count).
import type { RequestHandler } from 'express';
import { ApiError } from './errors';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export interface PathEntry {
  template: string;
  regex: RegExp;
  methods: Set<string>;
  item: Record<string, unknown>;
  /** Segments that are not `{param}`: the more, the more concrete. */
  literals: number;
}

/** The document's paths as matchers (see the matching rules above). */
export function compilePaths(paths: Record<string, object>): PathEntry[] {
  return Object.entries(paths).map(([template, item]) => {
    const source = template
      .split('/')
      .map((segment) => (/^\{[^}]+\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    const methods = new Set(Object.keys(item).filter((k) => (METHODS as readonly string[]).includes(k)).map((m) => m.toUpperCase()));
    const literals = template.split('/').filter((segment) => segment && !/^\{[^}]+\}$/.test(segment)).length;
    return { template, regex: new RegExp(`^${source}/?$`, 'i'), methods, item: item as Record<string, unknown>, literals };
  });
}

/** The documented paths a request path is: the most concrete of those that match. */
function matching(entries: PathEntry[], path: string): PathEntry[] {
  const matched = entries.filter((e) => e.regex.test(path));
  const most = Math.max(...matched.map((e) => e.literals));
  return matched.filter((e) => e.literals === most);
}

/** The operations (path item entries) a request reaches: usually one. */
export function operationsFor(entries: PathEntry[], method: string, path: string): unknown[] {
  const key = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
  return matching(entries, path).filter((e) => e.item[key]).map((e) => e.item[key]);
}

/** The methods a request path has, as an `Allow` value, or undefined for a path the document does not list. */
export function allowedMethods(entries: PathEntry[], path: string): string[] | undefined {
  const matched = matching(entries, path);
  if (!matched.length) return undefined;
  const methods = new Set(matched.flatMap((e) => [...e.methods]));
  // express answers HEAD wherever it answers GET; OPTIONS is answered here.
  if (methods.has('GET')) methods.add('HEAD');
  methods.add('OPTIONS');
  const order = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'];
  return [...methods].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

export function methodNotAllowed(doc: { paths: Record<string, object> }): RequestHandler {
  const entries = compilePaths(doc.paths);
  return (req, res, next) => {
    const allow = allowedMethods(entries, req.path);
    if (!allow || (allow.includes(req.method) && req.method !== 'OPTIONS')) return next();
    res.setHeader('Allow', allow.join(', '));
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next(new ApiError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}; allowed: ${allow.join(', ')}`, { allow }));
  };
}
