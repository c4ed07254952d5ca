// API Gateway TOKEN authorizer for auth = "JWT" routes. The generated stack sets:
//   JWT_ISSUER    the exact `iss` of accepted tokens
//   JWT_AUDIENCE  accepted audiences (client IDs), comma-separated
//   JWT_JWKS_URL  the issuer's key set
//   JWT_SCOPED_ROUTES  JSON [[METHOD, "/path/{var}", [scopes...]], ...]: routes needing scopes
// API Gateway caches the returned policy per token and reuses it for every JWT route, so the
// policy covers the whole API: allow every route, deny the scoped ones the token lacks scopes for.
import { KeySet, Unauthorized, scopesOf, verifyJwt } from "./jwt.mjs";

let keySet; // per execution environment: JWKS fetched once, not per request

function settings(env) {
  const issuer = env.JWT_ISSUER;
  return {
    issuer,
    audience: (env.JWT_AUDIENCE ?? "").split(",").map((a) => a.trim()).filter(Boolean),
    jwksUrl: env.JWT_JWKS_URL || `${issuer.replace(/\/$/, "")}/.well-known/jwks.json`,
    scopedRoutes: JSON.parse(env.JWT_SCOPED_ROUTES || "[]"),
  };
}

/** arn:...:apiId/stage/METHOD/path -> arn:...:apiId/stage (what every route of the stage shares). */
export function stagePrefix(methodArn) {
  const [head, resource] = [methodArn.slice(0, methodArn.lastIndexOf(":") + 1), methodArn.slice(methodArn.lastIndexOf(":") + 1)];
  const [apiId, stage] = resource.split("/");
  return `${head}${apiId}/${stage}`;
}

/** The IAM policy for a verified token: all routes, minus scoped ones it lacks a scope for. */
export function policyFor(methodArn, scopes, scopedRoutes) {
  const prefix = stagePrefix(methodArn);
  const statements = [{ Action: "execute-api:Invoke", Effect: "Allow", Resource: [`${prefix}/*/*`] }];
  const denied = scopedRoutes
    .filter(([, , needed]) => !needed.some((s) => scopes.includes(s)))
    .map(([method, path]) => `${prefix}/${method}${path.replace(/\{[^}]+\}/g, "*")}`);
  if (denied.length) statements.push({ Action: "execute-api:Invoke", Effect: "Deny", Resource: denied });
  return { Version: "2012-10-17", Statement: statements };
}

export function makeHandler(env = process.env, options = {}) {
  const cfg = settings(env);
  return async (event) => {
    keySet ??= new KeySet(cfg.jwksUrl, options);
    const token = String(event.authorizationToken ?? "").replace(/^Bearer\s+/i, "");
    let claims;
    try {
      claims = await verifyJwt(token, { issuer: cfg.issuer, audience: cfg.audience, keys: keySet, ...options });
    } catch (err) {
      if (err instanceof Unauthorized) {
        console.log(JSON.stringify({ level: "INFO", message: "token rejected", reason: err.message }));
        throw new Error("Unauthorized"); // API Gateway answers 401 for exactly this message
      }
      throw err; // JWKS unreachable: 500, not a silent deny
    }
    const scopes = scopesOf(claims);
    return {
      principalId: String(claims.sub ?? "unknown"),
      policyDocument: policyFor(event.methodArn, scopes, cfg.scopedRoutes),
      // Handlers read these from requestContext.authorizer (values must be strings or numbers).
      context: { sub: String(claims.sub ?? ""), iss: claims.iss, scope: scopes.join(" "),
                 email: String(claims.email ?? ""), client_id: String(claims.client_id ?? claims.azp ?? "") },
    };
  };
}

/** For tests: forget the cached key set (a new execution environment). */
export function resetKeys() {
  keySet = undefined;
}

export const handler = (event) => makeHandler()(event);
