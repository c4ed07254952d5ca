// The JWT authorizer against locally generated keys, with the JWKS served on loopback.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { generateKeyPairSync, sign } from "node:crypto";

import { makeHandler, policyFor, resetKeys } from "../index.mjs";
import { KeySet, verifyJwt, Unauthorized } from "../jwt.mjs";

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0); // pinned clock: tests never depend on today
const now = () => NOW;
const SECONDS = Math.floor(NOW / 1000);
const ISSUER = "https://issuer.example.test";
const ARN = "arn:aws:execute-api:us-west-2:123456789012:abc123/dev/GET/items/42";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
let server, jwksUrl, served;

function jwk(pair, kid, alg) {
  return { ...pair.publicKey.export({ format: "jwk" }), kid, alg, use: "sig" };
}

function token(claims, { kid = "rsa1", alg = "RS256", key = rsa.privateKey, header = {} } = {}) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const input = `${enc({ alg, kid, typ: "JWT", ...header })}.${enc(claims)}`;
  const sig = alg === "ES256"
    ? sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" })
    : sign("sha256", Buffer.from(input), key);
  return `${input}.${sig.toString("base64url")}`;
}

const valid = (extra = {}) => ({ iss: ISSUER, aud: "web-client", sub: "user-1", exp: SECONDS + 300, iat: SECONDS, ...extra });

before(async () => {
  served = { keys: [jwk(rsa, "rsa1", "RS256"), jwk(ec, "ec1", "ES256")] };
  server = createServer((req, res) => {
    server.hits = (server.hits ?? 0) + 1;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(served));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  jwksUrl = `http://127.0.0.1:${server.address().port}/.well-known/jwks.json`;
});
after(() => server.close());
beforeEach(() => resetKeys());

function handler(extraEnv = {}) {
  return makeHandler({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: "web-client, mobile-client", JWT_JWKS_URL: jwksUrl,
    JWT_SCOPED_ROUTES: JSON.stringify([["POST", "/items", ["items/write"]], ["DELETE", "/items/{id}", ["items/admin"]]]),
    ...extraEnv }, { now });
}

test("RS256 and ES256 tokens pass and yield a policy and context claims", async () => {
  for (const t of [token(valid({ scope: "items/write" })), token(valid({ scope: "items/write" }), { kid: "ec1", alg: "ES256", key: ec.privateKey })]) {
    const out = await handler()({ type: "TOKEN", authorizationToken: `Bearer ${t}`, methodArn: ARN });
    assert.equal(out.principalId, "user-1");
    assert.deepEqual(out.context, { sub: "user-1", iss: ISSUER, scope: "items/write", email: "", client_id: "" });
    assert.deepEqual(out.policyDocument.Statement, [
      { Action: "execute-api:Invoke", Effect: "Allow", Resource: ["arn:aws:execute-api:us-west-2:123456789012:abc123/dev/*/*"] },
      { Action: "execute-api:Invoke", Effect: "Deny", Resource: ["arn:aws:execute-api:us-west-2:123456789012:abc123/dev/DELETE/items/*"] },
    ]);
  }
});

test("every bad token is Unauthorized (401), never a policy", async () => {
  const bad = {
    "wrong issuer": token(valid({ iss: "https://evil.example.test" })),
    "wrong audience": token(valid({ aud: "someone-else" })),
    expired: token(valid({ exp: SECONDS - 120 })),
    "no expiry": token(valid({ exp: undefined })),
    "not yet valid": token(valid({ nbf: SECONDS + 600 })),
    "signed by another key": token(valid(), { key: other.privateKey }),
    "unknown kid": token(valid(), { kid: "nope" }),
    "alg none": token(valid(), { header: { alg: "none" } }),
    "HS256 with the public key as secret": token(valid(), { header: { alg: "HS256" } }),
    "ES256 header on an RSA key": token(valid(), { kid: "rsa1", alg: "ES256", key: ec.privateKey }),
    garbage: "not.a.token",
  };
  for (const [why, t] of Object.entries(bad)) {
    await assert.rejects(handler()({ authorizationToken: `Bearer ${t}`, methodArn: ARN }), { message: "Unauthorized" }, why);
  }
});

test("expiry and not-before allow 60 s of clock skew", async () => {
  await handler()({ authorizationToken: `Bearer ${token(valid({ exp: SECONDS - 30, nbf: SECONDS + 30 }))}`, methodArn: ARN });
});

test("an access token without aud is matched by client_id", async () => {
  const out = await handler()({ authorizationToken: `Bearer ${token(valid({ aud: undefined, client_id: "mobile-client" }))}`, methodArn: ARN });
  assert.equal(out.context.client_id, "mobile-client");
});

test("the JWKS is fetched once and cached; an unknown kid refetches at most every 30 s", async () => {
  let clock = NOW;
  const keys = new KeySet(jwksUrl, { now: () => clock });
  const opts = { issuer: ISSUER, audience: ["web-client"], keys, now };
  await verifyJwt(token(valid()), opts);
  await verifyJwt(token(valid()), opts);
  assert.equal(keys.fetches, 1);
  await assert.rejects(verifyJwt(token(valid(), { kid: "rotated" }), opts), Unauthorized);
  assert.equal(keys.fetches, 1); // within 30 s: no refetch storm from forged kids
  // The issuer rotates in a new key; after 30 s a token signed with it triggers one refetch.
  served.keys.push(jwk(other, "rotated", "RS256"));
  clock += 31_000;
  await verifyJwt(token(valid(), { kid: "rotated", key: other.privateKey }), opts);
  assert.equal(keys.fetches, 2);
  served.keys.pop();
});

test("scopes: the policy denies scoped routes whose scopes the token lacks", () => {
  const routes = [["POST", "/items", ["items/write"]], ["PUT", "/items/{id}/tags/{tag}", ["items/write", "items/admin"]]];
  const p = policyFor(ARN, ["items/admin"], routes);
  assert.deepEqual(p.Statement[1].Resource, ["arn:aws:execute-api:us-west-2:123456789012:abc123/dev/POST/items"]);
  assert.equal(policyFor(ARN, ["items/write"], routes).Statement.length, 1);
});

test("an unreachable JWKS is an error (500), not a 401 that hides the outage", async () => {
  const down = makeHandler({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: "web-client", JWT_JWKS_URL: "http://127.0.0.1:1/jwks" }, { now });
  await assert.rejects(down({ authorizationToken: `Bearer ${token(valid())}`, methodArn: ARN }), (err) => err.message !== "Unauthorized");
});

test("a JWKS endpoint that never answers fails after the timeout", async () => {
  const silent = createServer(() => {}); // accepts, never responds
  await new Promise((r) => silent.listen(0, "127.0.0.1", r));
  try {
    const keys = new KeySet(`http://127.0.0.1:${silent.address().port}/jwks`, { timeoutMs: 100 });
    await assert.rejects(verifyJwt(token(valid()), { issuer: ISSUER, audience: ["web-client"], keys, now }),
      (err) => err.name === "TimeoutError" && !(err instanceof Unauthorized));
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});
