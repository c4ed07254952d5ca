// JWT verification with Node's built-in crypto and fetch: RS256 and ES256 signatures against the
// issuer's JWKS (cached), then issuer, audience, expiry and not-before. No dependencies, so the
// function ships as its own source.
import { createPublicKey, verify } from "node:crypto";

export class Unauthorized extends Error {}

// alg -> how node:crypto verifies it. ES256 signatures in a JWS are r||s (IEEE P1363), not DER.
const ALGORITHMS = {
  RS256: { hash: "sha256", kty: "RSA", options: {} },
  ES256: { hash: "sha256", kty: "EC", options: { dsaEncoding: "ieee-p1363" } },
};
const LEEWAY_SECONDS = 60; // clock skew tolerated on exp and nbf
const JWKS_MAX_AGE_MS = 10 * 60 * 1000; // keys are refetched after this long
const JWKS_MIN_REFRESH_MS = 30 * 1000; // an unknown kid refetches at most this often

function decodePart(part, what) {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw new Unauthorized(`malformed token ${what}`);
  }
}

/** A key-set cache for one JWKS URL: refetched when stale or when a token names an unknown kid. */
export class KeySet {
  constructor(url, { fetchImpl = globalThis.fetch, now = () => Date.now(), timeoutMs = 3000 } = {}) {
    this.url = url;
    this.timeoutMs = timeoutMs; // a hung issuer must not hold the request until the Lambda timeout
    this.fetchImpl = fetchImpl;
    this.now = now;
    this.keys = new Map();
    this.fetchedAt = -Infinity;
    this.fetches = 0;
  }

  async refresh() {
    const res = await this.fetchImpl(this.url, {
      headers: { accept: "application/json" }, signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`JWKS ${this.url} answered ${res.status}`);
    const body = await res.json();
    const keys = new Map();
    for (const jwk of body.keys ?? []) {
      if (!jwk.kid || (jwk.use && jwk.use !== "sig")) continue;
      try {
        keys.set(jwk.kid, { jwk, key: createPublicKey({ key: jwk, format: "jwk" }) });
      } catch {
        // A key this runtime cannot import is skipped, not fatal for the others.
      }
    }
    this.keys = keys;
    this.fetchedAt = this.now();
    this.fetches += 1;
  }

  async get(kid) {
    const age = this.now() - this.fetchedAt;
    if (age > JWKS_MAX_AGE_MS || (!this.keys.has(kid) && age > JWKS_MIN_REFRESH_MS)) {
      await this.refresh();
    }
    const found = this.keys.get(kid);
    if (!found) throw new Unauthorized("token signed with an unknown key");
    return found;
  }
}

/**
 * Verify `token` and return its claims. Throws Unauthorized for any token that must not pass.
 * `audience` is a list; a token passes if its `aud` (or, for access tokens that carry no aud,
 * `client_id`) names one of them.
 */
export async function verifyJwt(token, { issuer, audience, keys, now = () => Date.now() }) {
  const parts = String(token).split(".");
  if (parts.length !== 3) throw new Unauthorized("not a JWS compact token");
  const header = decodePart(parts[0], "header");
  const alg = ALGORITHMS[header.alg];
  // The algorithm comes from our list, never from the token alone ("none" and HS256 fail here).
  if (!alg) throw new Unauthorized(`algorithm ${header.alg} not accepted`);
  const { jwk, key } = await keys.get(header.kid);
  if (jwk.kty !== alg.kty || (jwk.alg && jwk.alg !== header.alg)) throw new Unauthorized("key does not match algorithm");
  const signature = Buffer.from(parts[2], "base64url");
  const ok = verify(alg.hash, Buffer.from(`${parts[0]}.${parts[1]}`), { key, ...alg.options }, signature);
  if (!ok) throw new Unauthorized("bad signature");
  const claims = decodePart(parts[1], "payload");
  if (claims.iss !== issuer) throw new Unauthorized("wrong issuer");
  const auds = claims.aud === undefined ? [claims.client_id] : [].concat(claims.aud);
  if (!auds.some((a) => audience.includes(a))) throw new Unauthorized("wrong audience");
  const seconds = Math.floor(now() / 1000);
  if (typeof claims.exp !== "number" || claims.exp + LEEWAY_SECONDS <= seconds) throw new Unauthorized("expired");
  if (typeof claims.nbf === "number" && claims.nbf - LEEWAY_SECONDS > seconds) throw new Unauthorized("not yet valid");
  return claims;
}

/** The token's scopes: OAuth's space-separated `scope`, or an `scp` list. */
export function scopesOf(claims) {
  if (typeof claims.scope === "string") return claims.scope.split(" ").filter(Boolean);
  if (Array.isArray(claims.scp)) return claims.scp.map(String);
  return [];
}
