// Test support: locally generated keys, tokens, and the issuer's JWKS served over HTTPS on
// loopback with a throwaway self-signed certificate (aws-jwt-verify fetches over HTTPS only).
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ISSUER = "https://issuer.example.test";
export const SECONDS = () => Math.floor(Date.now() / 1000);

export const keys = {
  rsa: generateKeyPairSync("rsa", { modulusLength: 2048 }),
  ec: generateKeyPairSync("ec", { namedCurve: "P-256" }),
  other: generateKeyPairSync("rsa", { modulusLength: 2048 }),
  rsa1024: generateKeyPairSync("rsa", { modulusLength: 1024 }),
  rsa512: generateKeyPairSync("rsa", { modulusLength: 512 }),
};

export function jwk(pair, kid, alg) {
  return { ...pair.publicKey.export({ format: "jwk" }), kid, alg, use: "sig" };
}

export const enc = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A compact JWS of `claims`; `header` replaces the encoded header when it is a string. */
export function token(claims, { kid = "rsa1", alg = "RS256", key = keys.rsa.privateKey, header = {}, rawHeader, rawPayload } = {}) {
  const input = `${rawHeader ?? enc({ alg, kid, typ: "JWT", ...header })}.${rawPayload ?? enc(claims)}`;
  const sig = alg.startsWith("ES")
    ? sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" })
    : sign("sha256", Buffer.from(input), key);
  return `${input}.${sig.toString("base64url")}`;
}

export const valid = (extra = {}) => ({
  iss: ISSUER, aud: "web-client", sub: "user-1", exp: SECONDS() + 300, iat: SECONDS(), ...extra,
});

/** A JWKS server: `served` is what it answers, `down` makes it answer 503, `hits` counts requests. */
export async function startIssuer() {
  const dir = mkdtempSync(join(tmpdir(), "authorizer-test-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
    const cert = readFileSync(join(dir, "cert.pem"));
    const state = { served: { keys: [] }, down: false, silent: false, hits: 0 };
    const server = createServer({ key: readFileSync(join(dir, "key.pem")), cert }, (req, res) => {
      state.hits += 1;
      if (state.silent) return; // accepts, never answers
      if (state.down) {
        res.writeHead(503).end("down");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(state.served));
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    state.url = `https://127.0.0.1:${server.address().port}/.well-known/jwks.json`;
    state.fetchOptions = { ca: cert, responseTimeout: 500, timeout: 500 };
    state.close = () => {
      server.closeAllConnections();
      server.close();
    };
    return state;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** IAM's evaluation of an authorizer policy for one methodArn: `*` and `?` match any characters. */
export function decide(policy, methodArn) {
  const matches = (pattern) => new RegExp(`^${pattern.split("").map((c) => (c === "*" ? ".*" : c === "?" ? "."
    : c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("")}$`).test(methodArn);
  const hit = (effect) => policy.Statement.some((s) => s.Effect === effect && [].concat(s.Resource).some(matches));
  if (hit("Deny")) return "Deny";
  return hit("Allow") ? "Allow" : "Deny";
}
