// The JWT authorizer (aws-jwt-verify underneath) against locally generated keys, with the
// issuer's JWKS served over HTTPS on loopback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { FetchError } from "aws-jwt-verify/error";
import { SimpleFetcher } from "aws-jwt-verify/https";

import { bearerOf, makeHandler } from "../index.mjs";
import { policyFor, stagePrefix } from "../policy.mjs";
import { JWKS_MAX_AGE_SECONDS, Unauthorized, makeVerifier, rsaModulusBits, verifyToken } from "../verify.mjs";
import { ISSUER, SECONDS, decide, enc, jwk, keys, startIssuer, token, valid } from "./support.mjs";

const PREFIX = "arn:aws:execute-api:us-west-2:123456789012:abc123/dev";
const SCOPED = [["POST", "/items", ["items/write"]], ["DELETE", "/items/{id}", ["items/admin"]],
  ["GET", "/files/{id}/v/{ver}/raw", ["files/read"]]];
let issuer;

before(async () => {
  issuer = await startIssuer();
  issuer.served = { keys: [jwk(keys.rsa, "rsa1", "RS256"), jwk(keys.ec, "ec1", "ES256"),
    jwk(keys.rsa1024, "small", "RS256"), jwk(keys.rsa512, "tiny", "RS256")] };
});
after(() => issuer.close());

function handler(extraEnv = {}, fetcher = new SimpleFetcher({ defaultRequestOptions: issuer.fetchOptions }),
  now = Date.now) {
  return makeHandler({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: "web-client, mobile-client", JWT_JWKS_URL: issuer.url,
    JWT_SCOPED_ROUTES: JSON.stringify(SCOPED), ...extraEnv }, { fetcher: fetcher ?? new SimpleFetcher(
    { defaultRequestOptions: issuer.fetchOptions }), now });
}

/** A REQUEST authorizer event for `method` on route `resource`, requested as `path`. */
function request(bearer, method = "GET", resource = "/items/{id}", path = "/items/42") {
  return { type: "REQUEST", methodArn: `${PREFIX}/${method}${path}`, resource, path, httpMethod: method,
    headers: { Authorization: `Bearer ${bearer}` } };
}

const unauthorized = { message: "Unauthorized" };

test("RS256 and ES256 tokens pass and yield a policy for the route and context claims", async () => {
  const h = handler();
  for (const t of [token(valid({ scope: "items/write" })),
    token(valid({ scope: "items/write" }), { kid: "ec1", alg: "ES256", key: keys.ec.privateKey })]) {
    const out = await h(request(t));
    assert.equal(out.principalId, "user-1");
    assert.deepEqual(out.context, { sub: "user-1", iss: ISSUER, scope: "items/write", email: "", client_id: "" });
    assert.deepEqual(out.policyDocument, { Version: "2012-10-17", Statement: [
      { Action: "execute-api:Invoke", Effect: "Allow", Resource: [`${PREFIX}/GET/items/*`] }] });
  }
});

test("every bad token is Unauthorized (401), never a policy and never an error", async () => {
  const good = token(valid());
  const [h64, p64, s64] = good.split(".");
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  // The signature's last character carries 4 unused bits: flipping one spells the same bytes.
  const lowBits = `${h64}.${p64}.${s64.slice(0, -1)}${alphabet[alphabet.indexOf(s64.at(-1)) ^ 1]}`;
  const bad = {
    "wrong issuer": token(valid({ iss: "https://evil.example.test" })),
    "no issuer (issue 18, item 30)": token(valid({ iss: undefined })),
    "wrong audience": token(valid({ aud: "someone-else" })),
    "aud wrong though client_id is right": token(valid({ aud: "someone-else", client_id: "web-client" })),
    expired: token(valid({ exp: SECONDS() - 120 })),
    "no expiry": token(valid({ exp: undefined })),
    "not yet valid": token(valid({ nbf: SECONDS() + 600 })),
    "an ID token where access tokens are meant": token(valid({ token_use: "id" })),
    "garbage token_use": token(valid({ token_use: "acc\u0000ess" })),
    "signed by another key": token(valid(), { key: keys.other.privateKey }),
    "unknown kid": token(valid(), { kid: "nope" }),
    "1024-bit RSA key": token(valid(), { kid: "small", key: keys.rsa1024.privateKey }),
    "512-bit RSA key": token(valid(), { kid: "tiny", key: keys.rsa512.privateKey }),
    "alg none": token(valid(), { header: { alg: "none" } }),
    "HS256 with the public key as secret": token(valid(), { header: { alg: "HS256" } }),
    "ES256 header on an RSA key": token(valid(), { kid: "rsa1", alg: "ES256", key: keys.ec.privateKey }),
    "RS256 header on an EC key": token(valid(), { kid: "ec1", alg: "RS256", key: keys.rsa.privateKey }),
    "header null": token(valid(), { rawHeader: enc(null) }),
    "payload null": token(null, { rawPayload: enc(null) }),
    "header a list": token(valid(), { rawHeader: enc([]) }),
    "payload a number": token(null, { rawPayload: enc(1) }),
    "header not JSON": token(valid(), { rawHeader: Buffer.from("{").toString("base64url") }),
    "padded signature": `${good}==`,
    "padded payload": `${h64}.${p64}=.${s64}`,
    "non-canonical last character": lowBits,
    "standard base64 alphabet": `${h64}.${p64}.${s64.replaceAll("-", "+").replaceAll("_", "/")}x`,
    garbage: "not.a.token",
    empty: "",
  };
  assert.notEqual(lowBits, good);
  const h = handler();
  await h(request(good)); // the same handler passes the well-formed token
  for (const [why, t] of Object.entries(bad)) {
    await assert.rejects(h(request(t)), unauthorized, why);
  }
  for (const event of [{ type: "REQUEST", methodArn: `${PREFIX}/GET/items/1`, headers: {} },
    { ...request(good), headers: { Authorization: good } }, // no "Bearer "
    { ...request(good), headers: null }, null]) {
    await assert.rejects(h(event), unauthorized, JSON.stringify(event));
  }
});

test("the token is read from a REQUEST event's header (any case) or a TOKEN event", async () => {
  const t = token(valid());
  assert.equal(bearerOf({ headers: { authorization: `Bearer ${t}` } }), t);
  assert.equal(bearerOf({ type: "TOKEN", authorizationToken: `bearer ${t}` }), t);
  const out = await handler()({ type: "TOKEN", authorizationToken: `Bearer ${t}`, methodArn: `${PREFIX}/GET/items/1` });
  assert.deepEqual(out.policyDocument.Statement[0].Resource, [`${PREFIX}/GET/items/1`]);
});

test("RSA keys are measured by their modulus", () => {
  assert.equal(rsaModulusBits(jwk(keys.rsa, "a")), 2048);
  assert.equal(rsaModulusBits(jwk(keys.rsa1024, "b")), 1024);
  assert.equal(rsaModulusBits({ n: Buffer.from([0, 0, 1]).toString("base64url") }), 1);
  assert.equal(rsaModulusBits({}), 0);
});

test("expiry and not-before allow 60 s of clock skew", async () => {
  await handler()(request(token(valid({ exp: SECONDS() - 30, nbf: SECONDS() + 30 }))));
});

test("an access token without aud is matched by client_id; token_use 'access' passes", async () => {
  const out = await handler()(request(token(valid({ aud: undefined, client_id: "mobile-client", token_use: "access" }))));
  assert.equal(out.context.client_id, "mobile-client");
});

test("a Cognito issuer: aws-jwt-verify's Cognito checks (access tokens only, client_id)", async () => {
  const pool = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbC123";
  const fetched = [];
  const inner = new SimpleFetcher({ defaultRequestOptions: issuer.fetchOptions });
  const fetcher = { fetch: (uri, ...rest) => { fetched.push(uri); return inner.fetch(uri, ...rest); } };
  // JWT_JWKS_URL (the loopback issuer here) is what is fetched for the pool's key set.
  const h = handler({ JWT_ISSUER: pool, JWT_AUDIENCE: "client-a" }, fetcher);
  const claims = (extra) => ({ iss: pool, sub: "u", exp: SECONDS() + 300, client_id: "client-a", token_use: "access",
    scope: "items/write", ...extra });
  const out = await h(request(token(claims())));
  assert.equal(out.context.client_id, "client-a");
  assert.deepEqual(fetched, [issuer.url]);
  // The pool's other issuer name, which the library accepts too, passes the early iss check.
  const global = await h(request(token(claims({ iss: "https://issuer-cognito-idp.us-west-2.amazonaws.com/us-west-2_AbC123" }))));
  assert.equal(global.policyDocument.Statement[0].Effect, "Allow");
  for (const [why, c] of Object.entries({
    "ID token": claims({ token_use: "id", aud: "client-a", client_id: undefined }),
    "garbage token_use": claims({ token_use: "refresh" }),
    "no token_use": claims({ token_use: undefined }),
    "other client": claims({ client_id: "client-b" }),
    "no iss": claims({ iss: undefined }),
    "other pool": claims({ iss: "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Other1" }),
    "no exp": claims({ exp: undefined }),
  })) {
    await assert.rejects(h(request(token(c))), unauthorized, why);
  }
});

test("the key set is cached: a briefly unreachable issuer does not fail known keys", async () => {
  const h = handler();
  const hits = issuer.hits;
  await h(request(token(valid())));
  assert.equal(issuer.hits, hits + 1);
  issuer.down = true;
  try {
    await h(request(token(valid())));
    await h(request(token(valid(), { kid: "ec1", alg: "ES256", key: keys.ec.privateKey })));
    assert.equal(issuer.hits, hits + 1); // served from the cache, not refetched
    // An unknown key while the issuer is down is an outage (500), not a 401 that hides it.
    await assert.rejects(h(request(token(valid(), { kid: "rotated", key: keys.other.privateKey }))),
      (err) => err instanceof FetchError && /Status code is 503/.test(err.message));
  } finally {
    issuer.down = false;
  }
});

test("a new key is fetched once; forged kids do not make a refetch storm", async () => {
  const h = handler();
  await h(request(token(valid())));
  const hits = issuer.hits;
  issuer.served.keys.push(jwk(keys.other, "rotated", "RS256"));
  try {
    await h(request(token(valid(), { kid: "rotated", key: keys.other.privateKey })));
    assert.equal(issuer.hits, hits + 1);
    await assert.rejects(h(request(token(valid(), { kid: "forged-1" }))), unauthorized);
    await assert.rejects(h(request(token(valid(), { kid: "forged-2" }))), unauthorized);
    assert.equal(issuer.hits, hits + 2); // the second forged kid waits out the library's 10 s penalty
  } finally {
    issuer.served.keys.pop();
  }
});

test("a forged kid never keeps a newly rotated key from being fetched", async () => {
  // The library's own penalty box blocked every fetch for the issuer 10 s after any unknown kid:
  // one forged token every 10 s kept a rotated key out for good.
  let clock = Date.now();
  const h = handler({}, undefined, () => clock);
  await h(request(token(valid())));
  clock += 2000;
  await assert.rejects(h(request(token(valid(), { kid: "forged" }))), unauthorized);
  issuer.served.keys.push(jwk(keys.other, "rotated", "RS256"));
  try {
    clock += 2000; // past REFETCH_MIN_SECONDS, well inside the forged kid's own 10 s
    const allowed = await h(request(token(valid(), { kid: "rotated", key: keys.other.privateKey })));
    assert.equal(allowed.policyDocument.Statement[0].Effect, "Allow");
  } finally {
    issuer.served.keys.pop();
  }
});

test("a key the issuer removed stops being trusted once the key set is old", async () => {
  let clock = Date.now();
  const h = handler({}, undefined, () => clock);
  issuer.served.keys.push(jwk(keys.other, "leaving", "RS256"));
  const signed = token(valid(), { kid: "leaving", key: keys.other.privateKey });
  await h(request(signed));
  issuer.served.keys.pop(); // revoked at the issuer
  await h(request(signed)); // still within the key set's age: trusted from the cache
  clock += (JWKS_MAX_AGE_SECONDS + 1) * 1000;
  await assert.rejects(h(request(signed)), unauthorized);
  // The issuer down when the key set is old: the keys held stay in use (no outage for good tokens).
  clock += (JWKS_MAX_AGE_SECONDS + 1) * 1000;
  issuer.down = true;
  try {
    await h(request(token(valid())));
  } finally {
    issuer.down = false;
  }
});

test("an OIDC ID token is not an access token; scp as a string is a scope list; no subject is refused", async () => {
  const h = handler();
  for (const idToken of [valid({ at_hash: "x" }), valid({ c_hash: "y" }), valid({ typ: "ID" }), valid({ nonce: "n" })]) {
    await assert.rejects(h(request(token(idToken))), unauthorized);
  }
  await assert.rejects(h(request(token(valid(), { header: { typ: "id+jwt" } }))), unauthorized);
  // Keycloak before 25 puts the client's nonce in access tokens too: still an access token.
  const keycloak = await h(request(token(valid({ nonce: "n-1", typ: "Bearer", azp: "web-client" }))));
  assert.equal(keycloak.policyDocument.Statement[0].Effect, "Allow");
  const entra = await h(request(token(valid({ scp: "items/write items/read" })), "POST", "/items", "/items"));
  assert.equal(decide(entra.policyDocument, `${PREFIX}/POST/items`), "Allow");
  const machine = await h(request(token(valid({ sub: undefined, client_id: "batch-job" }))));
  assert.equal(machine.principalId, "batch-job");
  await assert.rejects(h(request(token(valid({ sub: undefined })))), unauthorized);
});

test("a key replaced under the same kid is used once the key set is fetched again", async () => {
  // The library also caches each key it converted, by issuer and kid: a new key under an old kid
  // went on being checked against the old one.
  let clock = Date.now();
  const h = handler({}, undefined, () => clock);
  issuer.served.keys.push(jwk(keys.rsa, "fixed", "RS256"));
  try {
    await h(request(token(valid(), { kid: "fixed" })));
    issuer.served.keys[issuer.served.keys.length - 1] = jwk(keys.other, "fixed", "RS256");
    clock += (JWKS_MAX_AGE_SECONDS + 1) * 1000;
    await assert.rejects(h(request(token(valid(), { kid: "fixed" }))), unauthorized);   // the old key: out
    const renewed = await h(request(token(valid(), { kid: "fixed", key: keys.other.privateKey })));
    assert.equal(renewed.policyDocument.Statement[0].Effect, "Allow");
  } finally {
    issuer.served.keys.pop();
  }
});

test("tokens with made-up issuers are refused before any key is converted for them", async () => {
  const verifier = makeVerifier({ issuer: ISSUER, audience: ["web-client"], jwksUrl: issuer.url },
    { fetcher: new SimpleFetcher({ defaultRequestOptions: issuer.fetchOptions }) });
  for (let i = 0; i < 50; i += 1) {
    await assert.rejects(verifyToken(verifier, token(valid({ iss: `https://made-up-${i}.example` }))), Unauthorized);
  }
  assert.equal(verifier.publicKeyCache.publicKeys.size, 0);
});

test("a JWKS endpoint that never answers fails after the timeout (500)", async () => {
  issuer.silent = true;
  try {
    await assert.rejects(handler()(request(token(valid()))),
      (err) => err instanceof FetchError && /time-out/.test(err.message));
  } finally {
    issuer.silent = false;
  }
});

// ---- policies ----------------------------------------------------------------------------

test("a methodArn with ':' inside a path value does not shift the policy", () => {
  const arn = `${PREFIX}/GET/files/x:y/v/1/raw`;
  assert.equal(stagePrefix(arn), PREFIX);
  const policy = policyFor({ methodArn: arn, httpMethod: "GET", resource: "/things/{id}", path: "/things/a:b" }, [], SCOPED);
  assert.deepEqual(policy.Statement[0].Resource, [`${PREFIX}/GET/things/*`]);
  assert.throws(() => stagePrefix("arn:aws:lambda:us-west-2:1:function:f"));
});

test("scoped GET /files/{id}/v/{ver}/raw requested as /files/x:y/v/1/raw needs its scope", async () => {
  const path = "/files/x:y/v/1/raw";
  const arn = `${PREFIX}/GET${path}`;
  const h = handler();
  for (const event of [request(token(valid()), "GET", "/files/{id}/v/{ver}/raw", path),
    { type: "TOKEN", authorizationToken: `Bearer ${token(valid())}`, methodArn: arn }]) {
    const without = await h(event);
    assert.equal(decide(without.policyDocument, arn), "Deny", event.type);
    const withScope = await h({ ...event, headers: { Authorization: `Bearer ${token(valid({ scope: "files/read" }))}` },
      authorizationToken: event.authorizationToken && `Bearer ${token(valid({ scope: "files/read" }))}` });
    assert.equal(decide(withScope.policyDocument, arn), "Allow", event.type);
  }
});

test("a Deny never spans '/': deeper unscoped routes stay allowed", async () => {
  const h = handler();
  const t = token(valid({ scope: "items/write" })); // lacks items/admin
  const shallow = await h(request(t, "DELETE", "/items/{id}", "/items/1"));
  assert.equal(decide(shallow.policyDocument, `${PREFIX}/DELETE/items/1`), "Deny");
  // The Deny names the request exactly, so even served for another route it would not match it.
  for (const s of shallow.policyDocument.Statement.filter((x) => x.Effect === "Deny")) {
    assert.deepEqual(s.Resource, [`${PREFIX}/DELETE/items/1`]);
  }
  const deeper = await h(request(t, "DELETE", "/items/{id}/tags", "/items/1/tags"));
  assert.equal(decide(deeper.policyDocument, `${PREFIX}/DELETE/items/1/tags`), "Allow");
  // The same scoped route requested with another id is still denied (no Allow covers it).
  assert.equal(decide(shallow.policyDocument, `${PREFIX}/DELETE/items/2`), "Deny");
});

test("a TOKEN event (no route in it) is matched segment by segment, and its policy is exact", () => {
  const deny = policyFor({ methodArn: `${PREFIX}/DELETE/items/7` }, [], SCOPED);
  assert.deepEqual(deny.Statement, [{ Action: "execute-api:Invoke", Effect: "Deny", Resource: [`${PREFIX}/DELETE/items/7`] }]);
  const deeper = policyFor({ methodArn: `${PREFIX}/DELETE/items/7/tags` }, [], SCOPED);
  assert.equal(deeper.Statement[0].Effect, "Allow");
  assert.equal(policyFor({ methodArn: `${PREFIX}/DELETE/items/` }, [], SCOPED).Statement[0].Effect, "Allow");
  assert.equal(policyFor({ methodArn: `${PREFIX}/POST/items` }, ["items/write"], SCOPED).Statement[0].Effect, "Allow");
});
