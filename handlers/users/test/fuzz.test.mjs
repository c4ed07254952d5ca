// Randomised tests (seeded, reproducible): whatever a client sends, the users handler answers
// well-formed JSON, never a 5xx for a client mistake, and never throws. Set FUZZ_SEED to replay.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { checkResponse, createUsersTable, lambdaContext, proxyEvent, startMoto } from './support.mjs';

const SEED = Number(process.env.FUZZ_SEED ?? 20240601);
const ITERATIONS = 300;

let moto;
let users;

before(async () => {
  moto = await startMoto();
  await createUsersTable();
  users = await import('../index.mjs');
  const http = await import('../http.mjs');
  http.logSink.write = () => {};
});

after(async () => {
  await moto?.stop();
});

// mulberry32: small, fast, seedable.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeGen(seed) {
  const r = rng(seed);
  const int = (n) => Math.floor(r() * n);
  const pick = (items) => items[int(items.length)];
  const CHARS = ['a', 'Z', '0', ' ', '@', '.', '-', '"', '\\', '/', '%', '{', '}', '[', ']', ':', ',',
    '\n', '\u0000', 'é', '漢', '😀', '\ud800', '\udfff', '\ufeff', '+', '=', '_'];
  const str = (max = 12) => Array.from({ length: int(max + 1) }, () => pick(CHARS)).join('');
  const email = () => pick([`${str(6)}@${str(6)}.${str(3)}`, 'ok@example.com', `u${int(1e6)}@ex.org`, str(10)]);
  const number = () => pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, int(1000)]);
  const value = (depth = 0) => {
    const kind = int(depth > 3 ? 4 : 6);
    if (kind === 0) return null;
    if (kind === 1) return r() < 0.5;
    if (kind === 2) return number();
    if (kind === 3) return str();
    if (kind === 4) return Array.from({ length: int(4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: int(4) }, () => [str(5), value(depth + 1)]));
  };
  const userish = () => {
    if (r() < 0.4) return { name: `${str(6)}n`, email: `u${int(1e6)}@example.com` };
    const body = {};
    if (r() < 0.8) body.name = r() < 0.6 ? str(20) : value();
    if (r() < 0.8) body.email = r() < 0.7 ? email() : value();
    if (r() < 0.2) body[str(4)] = value();
    return body;
  };
  const body = () => {
    switch (int(8)) {
      case 7: return JSON.stringify({ name: pick(['Ada', ` ${str(8)}x `]), email: `u${int(1e6)}@example.com` });
      case 0: return null;
      case 1: return str(60);
      case 2: return JSON.stringify(value());
      case 3: return JSON.stringify(userish()).slice(0, int(2) ? undefined : int(40));
      case 4: return JSON.stringify(userish());
      case 5: return Buffer.from(Array.from({ length: int(40) }, () => int(256))).toString('latin1');
      default: return '['.repeat(int(5000));
    }
  };
  const id = () => pick([randomUUID(), 'x', str(30), '', '%2F..', 'a'.repeat(3000)]);
  const route = () => {
    const uid = id();
    return pick([
      ['GET', '/users', '/users', null],
      ['POST', '/users', '/users', null],
      ['GET', '/users/{id}', `/users/${uid}`, { id: uid }],
      ['PUT', '/users/{id}', `/users/${uid}`, { id: uid }],
      ['DELETE', '/users/{id}', `/users/${uid}`, { id: uid }],
      [pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', str(4), '']),
        pick([null, '/users', '/users/{id}', '/{proxy+}', str(10)]),
        pick([null, '/users', `/users/${uid}`, '/', str(20), `/users/${str(5)}/x`]),
        pick([null, { id: uid }, { [str(3)]: str(3) }, 'nope'])],
    ]);
  };
  const query = () => pick([
    null,
    { limit: pick(['1', '20', '100', '0', '101', '-3', 'x', '', '2.5', String(int(200))]) },
    { cursor: pick([str(20), Buffer.from(str(10)).toString('base64url'),
      Buffer.from(JSON.stringify({ id: randomUUID() })).toString('base64url'),
      Buffer.from(JSON.stringify(value())).toString('base64url')]) },
    { [str(4)]: str(4) },
    ['limit'],
  ]);
  const event = () => {
    const [method, resource, path, pathParameters] = route();
    let payload = body();
    let isBase64Encoded = r() < 0.3;
    if (isBase64Encoded && payload !== null && r() < 0.6) payload = Buffer.from(payload).toString('base64');
    if (r() < 0.05) isBase64Encoded = 'yes';
    const ev = proxyEvent(method, resource, path, {
      pathParameters, query: query(), body: payload, isBase64Encoded, requestId: str(8),
    });
    if (r() < 0.05) ev.requestContext = pick([null, 7, {}]);
    return ev;
  };
  return { event, userish, value, int };
}

test(`any request gets a well-formed answer and never a 5xx (seed ${SEED})`, async () => {
  const gen = makeGen(SEED);
  const seen = {};
  for (let i = 0; i < ITERATIONS; i += 1) {
    const event = gen.event();
    const result = await users.handler(event, lambdaContext);
    const context = `iteration ${i}: ${JSON.stringify(event).slice(0, 300)} -> ${JSON.stringify(result).slice(0, 300)}`;
    try {
      checkResponse(assert, result);
    } catch (err) {
      err.message += `\n${context}`;
      throw err;
    }
    assert.ok(result.statusCode < 500, context);
    seen[result.statusCode] = (seen[result.statusCode] ?? 0) + 1;
  }
  // The generator must reach the interesting answers, not only 404s and 405s.
  for (const status of [200, 201, 400, 404, 405]) assert.ok(seen[status] > 0, `${status}: ${JSON.stringify(seen)}`);
});

test(`POST is 201 and readable back, or 400 (seed ${SEED + 1})`, async () => {
  const gen = makeGen(SEED + 1);
  let created = 0;
  for (let i = 0; i < 200; i += 1) {
    const body = gen.userish();
    const res = await users.handler(proxyEvent('POST', '/users', '/users', { body }), lambdaContext);
    checkResponse(assert, res);
    assert.ok([201, 400].includes(res.statusCode), `${JSON.stringify(body)} -> ${res.body}`);
    if (res.statusCode === 201) {
      created += 1;
      const user = JSON.parse(res.body);
      assert.equal(user.name, body.name.trim());
      assert.equal(user.email, body.email.trim());
      const got = await users.handler(proxyEvent('GET', '/users/{id}', `/users/${user.id}`, {
        pathParameters: { id: user.id },
      }), lambdaContext);
      assert.deepEqual(JSON.parse(got.body), user);
    }
  }
  assert.ok(created > 30, `only ${created} created`);
});
