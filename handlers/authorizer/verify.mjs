// Token verification with aws-jwt-verify (AWS's library), plus the checks it leaves to its user.
//
// The library checks the signature against the issuer's JWKS, `iss`, `exp`/`nbf` (with grace),
// and for Cognito issuers `token_use` and `client_id`. Its key cache is ours to shape:
// - the JWKS is fetched again once it is JWKS_MAX_AGE_SECONDS old, so a key the issuer removed
//   (rotated out, or compromised) stops being trusted; if the issuer does not answer then, the
//   keys already held stay in use, so a briefly unreachable issuer does not fail good tokens;
// - an unknown `kid` fetches the JWKS again; a `kid` still unknown after that fetch is refused
//   for 10 s, and no other unknown kid fetches within REFETCH_MIN_SECONDS of it: per kid, so
//   forged kids (anyone can send one) cost the issuer one fetch a second at most and never keep
//   a newly rotated key out for long, as the library's own per-issuer penalty box did (each
//   forged kid blocked every fetch for 10 s).
// What it does not check, we do (each refusal is a 401):
// - base64url that is not canonical: it decodes with Node's lenient base64, which ignores `=`
//   padding and the unused low bits of the last character, so one signature has several spellings;
// - RSA keys under 2048 bits (the floor NIST SP 800-131A and the jose library set);
// - a key whose type does not match the token's alg family;
// - tokens without `exp` (the library checks `exp` only when present);
// - for non-Cognito issuers: `token_use`, when present, must be "access"; an ID token (one with
//   the ID-token-only claims `at_hash` or `c_hash`, a `nonce` unless `typ` is "Bearer", Keycloak's
//   `typ: "ID"`, or the header `typ` of one) is refused, since its `aud` is a client ID and would otherwise pass (one with none of
//   these cannot be told apart: accept the API's identifier as audience, not client IDs); and
//   `aud` (or, for access tokens without one, `client_id`) must name an accepted audience.
// - the token's `iss` is checked before the library sees it (it caches per `iss`).
import { CognitoJwtVerifier, JwtVerifier } from "aws-jwt-verify";
import { FetchError, JwksValidationError, WaitPeriodNotYetEndedJwkError } from "aws-jwt-verify/error";
import { SimpleFetcher } from "aws-jwt-verify/https";
import { SimpleJwksCache } from "aws-jwt-verify/jwk";

export const GRACE_SECONDS = 60; // clock skew tolerated on exp and nbf
export const MIN_RSA_BITS = 2048;
export const JWKS_MAX_AGE_SECONDS = 600;
export const REFETCH_MIN_SECONDS = 1;
const UNKNOWN_KID_SECONDS = 10;
// Claims only ID tokens carry (OpenID Connect Core 3.1.3.6, 3.3.2.11), and `nonce`, except in a
// token that says it is an access token (`typ: "Bearer"`): Keycloak before 25 copied the nonce
// into access tokens too (keycloak/keycloak#26893), and they say so.
const ID_TOKEN_CLAIMS = ["at_hash", "c_hash"];
const COGNITO_ISSUER = /^https:\/\/cognito-idp\.([a-z0-9-]+)\.amazonaws\.com\/([A-Za-z0-9-]+_[A-Za-z0-9]+)\/?$/;
const KTY_OF_ALG = { RS: "RSA", ES: "EC", Ed: "OKP" };
const B64URL = /^[A-Za-z0-9_-]+$/;

/** A token the authorizer refuses (401); its message goes to the log, never to the caller. */
export class Unauthorized extends Error {
  name = "Unauthorized";
}

/** True for an error that means the issuer's key set could not be had: a 500, not a 401. */
export function isIssuerOutage(err) {
  return err instanceof FetchError || err instanceof JwksValidationError;
}

/** Refuse a compact JWS whose parts are not canonical, unpadded base64url. */
export function assertCanonical(token) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Unauthorized("not a JWS compact token");
  for (const part of parts) {
    if (!B64URL.test(part) || Buffer.from(part, "base64url").toString("base64url") !== part) {
      throw new Unauthorized("token is not canonical base64url");
    }
  }
}

/** Bits in an RSA JWK's modulus. */
export function rsaModulusBits(jwk) {
  const n = Buffer.from(String(jwk.n ?? ""), "base64url");
  let i = 0;
  while (i < n.length && n[i] === 0) i += 1;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]));
}

function checkKey({ header, jwk }) {
  if (KTY_OF_ALG[String(header.alg).slice(0, 2)] !== jwk.kty) throw new Unauthorized("key does not match algorithm");
  if (jwk.kty === "RSA" && rsaModulusBits(jwk) < MIN_RSA_BITS) {
    throw new Unauthorized(`RSA key under ${MIN_RSA_BITS} bits`);
  }
}

function checkExpiry({ payload }) {
  if (typeof payload.exp !== "number") throw new Unauthorized("token has no expiry");
}

function checkGenericAccessToken({ header, payload }, audience) {
  if (payload.token_use !== undefined && payload.token_use !== "access") {
    throw new Unauthorized("not an access token");
  }
  if (ID_TOKEN_CLAIMS.some((claim) => payload[claim] !== undefined) || /^id[+_-]?jwt$/i.test(String(header.typ ?? ""))
      || payload.typ === "ID" // Keycloak's ID tokens say so in the payload
      || (payload.nonce !== undefined && payload.typ !== "Bearer")) {
    throw new Unauthorized("an ID token, not an access token");
  }
  const auds = payload.aud === undefined ? [payload.client_id] : [].concat(payload.aud);
  if (!auds.some((a) => typeof a === "string" && audience.includes(a))) throw new Unauthorized("wrong audience");
}

/** Refetch limits per kid (see the top of this file); `now` in milliseconds. */
class KidPenaltyBox {
  constructor(now) {
    this.now = now;
    this.unknownUntil = new Map(); // "uri kid" -> when that kid may be looked for again
    this.lastMiss = new Map(); // uri -> when a fetch last failed to find the kid it was made for
  }

  async wait(uri, kid) {
    const now = this.now();
    if ((this.unknownUntil.get(`${uri} ${kid}`) ?? 0) > now) {
      throw new WaitPeriodNotYetEndedJwkError(`kid ${kid} was not in the JWKS a moment ago`);
    }
    if (now - (this.lastMiss.get(uri) ?? -Infinity) < REFETCH_MIN_SECONDS * 1000) {
      throw new WaitPeriodNotYetEndedJwkError("the JWKS was fetched for an unknown kid a moment ago");
    }
  }

  registerFailedAttempt(uri, kid) {
    const now = this.now();
    this.lastMiss.set(uri, now);
    if (this.unknownUntil.size > 1000) { // random kids: forget the ones whose wait is over
      for (const [key, until] of this.unknownUntil) if (until <= now) this.unknownUntil.delete(key);
    }
    this.unknownUntil.set(`${uri} ${kid}`, now + UNKNOWN_KID_SECONDS * 1000);
  }

  registerSuccessfulAttempt(uri, kid) {
    this.unknownUntil.delete(`${uri} ${kid}`);
  }
}

/** The library's cache with an age limit: an old JWKS is fetched again before it is used.
 * `onChange` runs when a fetch brings other keys than those held: the verifier then forgets the
 * keys it converted (cached by issuer and kid, not by content), so a key the issuer replaced
 * under the same kid is not still used. */
class ExpiringJwksCache extends SimpleJwksCache {
  constructor({ now, ...props }) {
    super({ ...props, penaltyBox: new KidPenaltyBox(now) });
    this.now = now;
    this.fetchedAt = new Map();
    this.onChange = () => {};
  }

  async getJwks(uri) {
    const before = this.jwksCache.get(uri);
    const jwks = await super.getJwks(uri);
    this.fetchedAt.set(uri, this.now());
    if (before !== undefined && JSON.stringify(before) !== JSON.stringify(jwks)) this.onChange();
    return jwks;
  }

  async getJwk(uri, decomposedJwt) {
    if (this.jwksCache.has(uri) && this.now() - (this.fetchedAt.get(uri) ?? 0) > JWKS_MAX_AGE_SECONDS * 1000) {
      try {
        await this.getJwks(uri);
      } catch (err) {
        // Unreachable, or a key set that does not parse: the keys held stay in use, asked again later.
        this.fetchedAt.set(uri, this.now());
        console.log(JSON.stringify({ level: "WARNING", message: "key set refresh failed; keeping the keys held",
          reason: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }));
      }
    }
    return super.getJwk(uri, decomposedJwt);
  }
}

/**
 * A verifier for the configured issuer. `fetcher` (tests) replaces the library's HTTPS fetcher,
 * e.g. one trusting a loopback server's certificate, with shorter timeouts; `now` (tests) the clock.
 */
export function makeVerifier({ issuer, audience, jwksUrl }, { fetcher = new SimpleFetcher(), now = Date.now } = {}) {
  const cognito = COGNITO_ISSUER.exec(issuer);
  if (cognito) {
    // Cognito: the library checks token_use ("access": ID tokens carry no scopes and must not
    // pass) and client_id. It derives the pool's JWKS URL itself (for the regional and the
    // global issuer name); the configured one is what is fetched for either.
    const jwksCache = new ExpiringJwksCache({ now, fetcher: { fetch: (uri, ...rest) => fetcher.fetch(
      uri.endsWith(`/${cognito[2]}/.well-known/jwks.json`) ? jwksUrl : uri, ...rest) } });
    const verifier = CognitoJwtVerifier.create({
      userPoolId: cognito[2], tokenUse: "access", clientId: audience, graceSeconds: GRACE_SECONDS,
      customJwtCheck: (args) => { checkKey(args); checkExpiry(args); },
    }, { jwksCache });
    // The library accepts the pool's two issuer names (regional, and the "issuer-cognito-idp" one).
    const names = [issuer, `https://issuer-cognito-idp.${cognito[1]}.amazonaws.com/${cognito[2]}`];
    return withKeyRefresh(verifier, jwksCache, names);
  }
  const jwksCache = new ExpiringJwksCache({ now, fetcher });
  const verifier = JwtVerifier.create({
    issuer, jwksUri: jwksUrl, audience: null, graceSeconds: GRACE_SECONDS, // audience: checked below
    customJwtCheck: (args) => { checkKey(args); checkExpiry(args); checkGenericAccessToken(args, audience); },
  }, { jwksCache });
  return withKeyRefresh(verifier, jwksCache, [issuer]);
}

function withKeyRefresh(verifier, jwksCache, issuers) {
  const names = issuers.flatMap((name) => [name, name.replace(/\/$/, "")]);
  jwksCache.onChange = () => { for (const name of names) verifier.publicKeyCache.clearCache(name); };
  verifier.expectedIssuers = new Set(names);
  return verifier;
}

/** Verify `token` and return its claims; Unauthorized, or the library's error, otherwise. */
export async function verifyToken(verifier, token) {
  assertCanonical(token);
  // The issuer first, before the library looks at the signature: it caches a converted key per
  // token `iss`, so tokens with made-up issuers would fill the memory of a warm environment.
  let iss;
  try {
    iss = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"))?.iss;
  } catch {
    throw new Unauthorized("payload is not JSON");
  }
  if (typeof iss !== "string" || !verifier.expectedIssuers.has(iss)) {
    throw new Unauthorized("wrong issuer");
  }
  return verifier.verify(token);
}

/** The token's scopes: OAuth's space-separated `scope`, or `scp` as a list or (Entra ID) a
 * space-separated string. */
export function scopesOf(claims) {
  if (typeof claims.scope === "string") return claims.scope.split(" ").filter(Boolean);
  if (Array.isArray(claims.scp)) return claims.scp.map(String);
  if (typeof claims.scp === "string") return claims.scp.split(" ").filter(Boolean);
  return [];
}
