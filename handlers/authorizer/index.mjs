// API Gateway REQUEST authorizer for auth = "JWT" routes. The generated stack sets:
//   JWT_ISSUER    the exact `iss` of accepted tokens
//   JWT_AUDIENCE  accepted audiences, comma-separated: the API's identifier in access tokens'
//                 `aud` (or the client IDs, for issuers whose access tokens carry only `client_id`)
//   JWT_JWKS_URL  the issuer's key set
//   JWT_SCOPED_ROUTES  JSON [[METHOD, "/path/{var}", [scopes...]], ...]: routes needing scopes
// API Gateway caches the returned policy per token, method and resource path (see policy.mjs).
// Answers: a policy (Allow, or Deny for a missing scope), "Unauthorized" (401) for any token
// that does not pass, including one that breaks the parser; an error (500) only when the
// issuer's key set cannot be fetched, so an outage is not hidden behind 401s.
import { policyFor } from "./policy.mjs";
import { Unauthorized, isIssuerOutage, makeVerifier, scopesOf, verifyToken } from "./verify.mjs";

const BEARER = /^Bearer +(\S+)$/i;

function settings(env) {
  const issuer = env.JWT_ISSUER ?? "";
  if (!issuer) throw new Error("JWT_ISSUER is not set");
  return {
    issuer,
    audience: (env.JWT_AUDIENCE ?? "").split(",").map((a) => a.trim()).filter(Boolean),
    jwksUrl: env.JWT_JWKS_URL || `${issuer.replace(/\/$/, "")}/.well-known/jwks.json`,
    scopedRoutes: JSON.parse(env.JWT_SCOPED_ROUTES || "[]"),
  };
}

/** The bearer token: a REQUEST event's Authorization header, or a TOKEN event's token. */
export function bearerOf(event) {
  let value = event?.authorizationToken;
  const headers = event?.headers;
  if (value === undefined && headers && typeof headers === "object") {
    const name = Object.keys(headers).find((k) => k.toLowerCase() === "authorization");
    value = name === undefined ? undefined : headers[name];
  }
  const found = BEARER.exec(typeof value === "string" ? value : "");
  if (!found) throw new Unauthorized("no Bearer token");
  return found[1];
}

function claimString(value) {
  return typeof value === "string" || typeof value === "number" ? String(value) : "";
}

/** A handler for `env`; `options.fetcher` (tests) replaces the JWKS fetcher. */
export function makeHandler(env = process.env, options = {}) {
  const cfg = settings(env);
  const verifier = makeVerifier(cfg, options); // per execution environment: the JWKS is cached in it
  return async (event) => {
    try {
      const claims = await verifyToken(verifier, bearerOf(event));
      const scopes = scopesOf(claims);
      // Who calls: the subject, or for a machine client without one its client id. A token that
      // names neither is refused: every such caller would otherwise be one and the same user.
      const principal = claimString(claims.sub) || claimString(claims.client_id ?? claims.azp);
      if (!principal) throw new Unauthorized("token names no subject (sub) and no client (client_id, azp)");
      return {
        principalId: principal,
        policyDocument: policyFor(event, scopes, cfg.scopedRoutes),
        // Handlers read these from requestContext.authorizer (values must be strings or numbers).
        context: { sub: principal, iss: claimString(claims.iss), scope: scopes.join(" "),
                   email: claimString(claims.email), client_id: claimString(claims.client_id ?? claims.azp) },
      };
    } catch (err) {
      if (isIssuerOutage(err)) throw err; // 500: the issuer's key set is unreachable or broken
      const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      console.log(JSON.stringify({ level: "INFO", message: "token rejected", reason }));
      throw new Error("Unauthorized"); // API Gateway answers 401 for exactly this message
    }
  };
}

let defaultHandler; // built on the first invocation, from the function's environment
export const handler = (event) => (defaultHandler ??= makeHandler())(event);
