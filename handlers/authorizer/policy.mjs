// The IAM policy the authorizer returns, and which route a request addresses.
//
// The authorizer is a REQUEST authorizer whose cache key is the token, the HTTP method and the
// resource path (see src/infra/openapi.py), so a cached policy is only ever reused for the route it
// was computed for. That is what keeps scope checks exact: an IAM `*` matches any characters,
// `/` included, so no single policy cached per token can deny `DELETE /items/{id}` without also
// denying a deeper route such as `DELETE /items/{id}/tags`.

/**
 * The `arn:...:apiId/stage` part of a methodArn (what every route of the stage shares).
 * An ARN has exactly five `:` before its resource; the path may hold more (`/files/x:y`), so the
 * resource is everything after the fifth, never after the last.
 */
export function stagePrefix(methodArn) {
  const parts = String(methodArn).split(":");
  if (parts.length < 6 || parts[0] !== "arn" || parts[2] !== "execute-api") {
    throw new Error("not an execute-api method ARN");
  }
  const [apiId, stage] = parts.slice(5).join(":").split("/");
  if (!apiId || !stage) throw new Error("not an execute-api method ARN");
  return `${parts.slice(0, 5).join(":")}:${apiId}/${stage}`;
}

/** METHOD and the request path of a methodArn (`arn:...:apiId/stage/GET/files/x:y` -> GET, /files/x:y). */
export function methodAndPath(methodArn) {
  const resource = String(methodArn).split(":").slice(5).join(":");
  const [, , method = "", ...path] = resource.split("/");
  return { method, path: `/${path.join("/")}` };
}

/** True when the concrete `path` is an instance of the route `template`, segment by segment. */
export function pathMatches(template, path) {
  const want = template.split("/");
  const got = path.split("/");
  for (let i = 0; i < want.length; i += 1) {
    if (/^\{[^}]+\+\}$/.test(want[i])) return i < got.length && got.slice(i).join("/") !== ""; // {proxy+}
    if (i >= got.length) return false;
    if (/^\{[^}]+\}$/.test(want[i]) ? got[i] === "" : want[i] !== got[i]) return false;
  }
  return want.length === got.length;
}

/**
 * The scoped routes this request may address: the one named by a REQUEST event's `httpMethod`
 * and `resource` (the template API Gateway matched), or, for an event without them, every scoped
 * route whose template the methodArn's path is an instance of (the strictest reading).
 */
export function scopedRoutesOf(event, scopedRoutes) {
  if (typeof event.resource === "string" && typeof event.httpMethod === "string") {
    return scopedRoutes.filter(([m, p]) => m === event.httpMethod && p === event.resource);
  }
  const { method, path } = methodAndPath(event.methodArn);
  return scopedRoutes.filter(([m, p]) => m === method && pathMatches(p, path));
}

/** The route's resource in a policy: its template with `*` for each path variable. */
function routeResource(prefix, method, template) {
  return `${prefix}/${method}${template.replace(/\{[^}]+\}/g, "*")}`;
}

/**
 * The policy for this request: Allow, or Deny when the route needs a scope the token lacks.
 * A REQUEST event's Allow covers its route (the cache serves it to that route only, for any
 * path values); a Deny, and any policy for an event without a route, names exactly the
 * methodArn, so it cannot reach another route whatever cache serves it. A cached Deny for one
 * id still denies the route's other ids: no Allow covers them.
 */
export function policyFor(event, scopes, scopedRoutes) {
  const prefix = stagePrefix(event.methodArn);
  const needed = scopedRoutesOf(event, scopedRoutes);
  const allowed = needed.every(([, , any]) => any.some((s) => scopes.includes(s)));
  const routed = typeof event.resource === "string" && typeof event.httpMethod === "string";
  const resource = allowed && routed ? routeResource(prefix, event.httpMethod, event.resource) : String(event.methodArn);
  return {
    Version: "2012-10-17",
    Statement: [{ Action: "execute-api:Invoke", Effect: allowed ? "Allow" : "Deny", Resource: [resource] }],
  };
}
