// Users handler against DynamoDB in a moto server on loopback: every route and error path.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import {
  TABLE, checkResponse, createUsersTable, lambdaContext, proxyEvent, startMoto,
} from './support.mjs';

let moto;
let users; // the handler module, imported once the environment points at the emulator
let http;
let logs = [];

before(async () => {
  moto = await startMoto();
  users = await import('../index.mjs');
  http = await import('../http.mjs');
  http.logSink.write = (line) => { logs.push(line); };
});

after(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  logs = [];
  for (const name of ['ALLOWED_ORIGIN', 'MAX_BODY_BYTES', 'LOG_LEVEL']) delete process.env[name];
  process.env.TABLE_NAME = TABLE;
  await moto.reset();
  await createUsersTable();
});

async function call(method, resource, path = resource, options = {}) {
  const result = await users.handler(proxyEvent(method, resource, path, options), lambdaContext);
  return { status: result.statusCode, headers: result.headers, json: checkResponse(assert, result), raw: result };
}

const byId = (id, method = 'GET', options = {}) => call(method, '/users/{id}', `/users/${id}`, {
  pathParameters: { id }, ...options,
});

async function createUser(body = { name: 'Ada Lovelace', email: 'ada@example.com' }) {
  const res = await call('POST', '/users', '/users', { body });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  return res.json;
}

describe('POST /users', () => {
  test('creates a user with a random UUID', async () => {
    const res = await call('POST', '/users', '/users', {
      body: { name: '  Ada ', email: 'ada@example.com', admin: true },
    });
    assert.equal(res.status, 201);
    assert.match(res.json.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(res.json.name, 'Ada');
    assert.equal(res.json.email, 'ada@example.com');
    assert.equal(res.json.admin, undefined);
    assert.equal(res.json.createdAt, res.json.updatedAt);
    assert.equal(res.headers.Location, `/users/${res.json.id}`);
    assert.equal(res.headers['Access-Control-Allow-Origin'], '*');
    const fetched = await byId(res.json.id);
    assert.deepEqual(fetched.json, res.json);
  });

  test('every user gets its own id', async () => {
    const a = await createUser();
    const b = await createUser();
    assert.notEqual(a.id, b.id);
  });

  const invalid = [
    [{ email: 'a@b.co' }, 'name'],
    [{ name: '', email: 'a@b.co' }, 'name'],
    [{ name: '   ', email: 'a@b.co' }, 'name'],
    [{ name: 5, email: 'a@b.co' }, 'name'],
    [{ name: null, email: 'a@b.co' }, 'name'],
    [{ name: ['x'], email: 'a@b.co' }, 'name'],
    [{ name: 'x'.repeat(257), email: 'a@b.co' }, 'name'],
    [{ name: 'x' }, 'email'],
    [{ name: 'x', email: '' }, 'email'],
    [{ name: 'x', email: 'not-an-email' }, 'email'],
    [{ name: 'x', email: 'a@b' }, 'email'],
    [{ name: 'x', email: 'a b@c.com' }, 'email'],
    [{ name: 'x', email: 'a@@c.com' }, 'email'],
    [{ name: 'x', email: '@c.com' }, 'email'],
    [{ name: 'x', email: 'a@-c.com' }, 'email'],
    [{ name: 'x', email: `${'a'.repeat(65)}@c.com` }, 'email'],
    [{ name: 'x', email: `a@${'c'.repeat(250)}.com` }, 'email'],
    [{ name: 'x', email: 42 }, 'email'],
  ];
  for (const [body, field] of invalid) {
    test(`rejects ${JSON.stringify(body).slice(0, 60)}`, async () => {
      const res = await call('POST', '/users', '/users', { body });
      assert.equal(res.status, 400);
      assert.equal(res.json.message, 'Validation failed');
      assert.ok(res.json.errors.some((e) => e.startsWith(field)), JSON.stringify(res.json));
      assert.equal(res.json.requestId, 'req-test');
    });
  }

  test('reports every invalid field at once', async () => {
    const res = await call('POST', '/users', '/users', { body: { name: '', email: 'x' } });
    assert.deepEqual(res.json.errors.map((e) => e.split(' ')[0]), ['name', 'email']);
  });

  for (const body of ['{', 'nope', '[1]', '"s"', '3', 'null', 'true', '', '  ', '\ufeff{}',
    '{"name": "x", "email": "a@b.co",}', '['.repeat(50000), '{"name": "\\ud800", "email": "a@b.co"}',
    '{"name": "\ud800", "email": "a@b.co"}']) {
    test(`rejects the malformed body ${JSON.stringify(body).slice(0, 30)}`, async () => {
      const res = await call('POST', '/users', '/users', { body });
      assert.equal(res.status, 400);
    });
  }

  test('requires a body', async () => {
    const res = await call('POST', '/users', '/users', { body: null });
    assert.equal(res.status, 400);
    assert.equal(res.json.message, 'Request body is required');
  });

  test('accepts a base64 body and rejects bad base64 or bad UTF-8', async () => {
    const good = Buffer.from(JSON.stringify({ name: 'B', email: 'b@example.org' })).toString('base64');
    assert.equal((await call('POST', '/users', '/users', { body: good, isBase64Encoded: true })).status, 201);
    for (const bad of ['%%%%', 'abc', 'YWJj=', 'YW Jj', Buffer.from([0xff, 0xfe]).toString('base64')]) {
      const res = await call('POST', '/users', '/users', { body: bad, isBase64Encoded: true });
      assert.equal(res.status, 400, bad);
    }
  });

  test('refuses bodies over the size limit with 413 (configurable)', async () => {
    const big = { name: 'x', email: 'x@example.com', pad: 'p'.repeat(70000) };
    assert.equal((await call('POST', '/users', '/users', { body: big })).status, 413);
    const encoded = Buffer.from(JSON.stringify(big)).toString('base64');
    assert.equal((await call('POST', '/users', '/users', { body: encoded, isBase64Encoded: true })).status, 413);
    process.env.MAX_BODY_BYTES = '40';
    assert.equal((await call('POST', '/users', '/users', { body: { name: 'x'.repeat(40), email: 'x@ex.com' } })).status, 413);
    assert.equal((await call('POST', '/users', '/users', { body: { name: 'x', email: 'x@ex.com' } })).status, 201);
    process.env.MAX_BODY_BYTES = 'lots';
    assert.equal((await call('POST', '/users', '/users', { body: { name: 'x'.repeat(40), email: 'x@ex.com' } })).status, 201);
  });
});

describe('GET /users/{id}', () => {
  test('returns the user', async () => {
    const user = await createUser();
    const res = await byId(user.id);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, user);
  });

  for (const id of [randomUUID(), 'nope', 'x'.repeat(3000), randomUUID().toUpperCase()]) {
    test(`404 for ${id.slice(0, 40)}`, async () => {
      const res = await byId(id);
      assert.equal(res.status, 404);
      assert.equal(res.json.message, 'User not found');
    });
  }

  test('routes by path when the resource is a greedy proxy', async () => {
    const user = await createUser();
    assert.equal((await call('GET', '/{proxy+}', `/users/${user.id}/`)).json.id, user.id);
    assert.equal((await call('GET', '/users/{id}', `/users/${user.id}`)).json.id, user.id);
  });
});

describe('PUT /users/{id}', () => {
  test('replaces name and email, keeps createdAt', async () => {
    const user = await createUser();
    await new Promise((resolve) => { setTimeout(resolve, 5); });
    const res = await byId(user.id, 'PUT', { body: { name: 'Grace', email: 'grace@example.com', id: 'hijack' } });
    assert.equal(res.status, 200);
    assert.equal(res.json.id, user.id);
    assert.equal(res.json.name, 'Grace');
    assert.equal(res.json.email, 'grace@example.com');
    assert.equal(res.json.createdAt, user.createdAt);
    assert.ok(res.json.updatedAt > user.updatedAt);
    assert.deepEqual((await byId(user.id)).json, res.json);
  });

  test('validates like POST', async () => {
    const user = await createUser();
    for (const body of [{ name: 'x' }, { email: 'a@b.co' }, { name: 'x', email: 'bad' }, '[]', '{']) {
      const res = await byId(user.id, 'PUT', { body });
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    assert.deepEqual((await byId(user.id)).json, user);
  });

  test('404 for an absent user, and never creates one', async () => {
    const id = randomUUID();
    const res = await byId(id, 'PUT', { body: { name: 'x', email: 'x@example.com' } });
    assert.equal(res.status, 404);
    assert.equal((await byId(id)).status, 404);
    assert.equal((await byId('not-a-uuid', 'PUT', { body: { name: 'x', email: 'x@example.com' } })).status, 404);
  });
});

describe('DELETE /users/{id}', () => {
  test('204 with an empty body, then 404', async () => {
    const user = await createUser();
    const res = await byId(user.id, 'DELETE');
    assert.equal(res.status, 204);
    assert.equal(res.raw.body, '');
    assert.equal((await byId(user.id)).status, 404);
    assert.equal((await byId(user.id, 'DELETE')).status, 404);
  });

  test('404 for an absent user', async () => {
    assert.equal((await byId(randomUUID(), 'DELETE')).status, 404);
    assert.equal((await byId('bogus', 'DELETE')).status, 404);
  });
});

describe('GET /users', () => {
  test('empty table', async () => {
    const res = await call('GET', '/users');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { items: [], cursor: null });
  });

  test('paginates through every user', async () => {
    const created = new Set();
    for (let i = 0; i < 23; i += 1) created.add((await createUser({ name: `u${i}`, email: `u${i}@example.com` })).id);
    const seen = [];
    let cursor = null;
    let pages = 0;
    do {
      const query = cursor ? { limit: '10', cursor } : { limit: '10' };
      const res = await call('GET', '/users', '/users', { query });
      assert.equal(res.status, 200);
      assert.ok(res.json.items.length <= 10);
      seen.push(...res.json.items.map((u) => u.id));
      ({ cursor } = res.json);
      pages += 1;
      if (cursor) {
        assert.match(cursor, /^[A-Za-z0-9_-]+$/);
        assert.deepEqual(Object.keys(JSON.parse(Buffer.from(cursor, 'base64url').toString())), ['id']);
      }
    } while (cursor);
    assert.equal(seen.length, 23);
    assert.deepEqual(new Set(seen), created);
    assert.equal(pages, 3);
  });

  test('default limit 20, maximum 100', async () => {
    for (let i = 0; i < 25; i += 1) await createUser({ name: `u${i}`, email: `u${i}@example.com` });
    const first = await call('GET', '/users');
    assert.equal(first.json.items.length, 20);
    assert.ok(first.json.cursor);
    assert.equal((await call('GET', '/users', '/users', { query: { limit: '100' } })).json.items.length, 25);
  });

  for (const limit of ['0', '101', '-1', '1.5', 'abc', '', ' 5', '1e2']) {
    test(`400 for limit=${JSON.stringify(limit)}`, async () => {
      const res = await call('GET', '/users', '/users', { query: { limit } });
      assert.equal(res.status, 400);
      assert.match(res.json.message, /limit/);
    });
  }

  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  for (const cursor of ['!!!', 'a', 'abcde', b64([1]), b64('x'), b64({ id: 'nope' }), b64({ id: 5 }),
    b64({ id: randomUUID(), extra: 1 }), b64({}), b64(null), Buffer.from([0xff, 0xfe]).toString('base64url'),
    'A'.repeat(3000)]) {
    test(`400 for cursor ${cursor.slice(0, 20)}`, async () => {
      const res = await call('GET', '/users', '/users', { query: { cursor } });
      assert.equal(res.status, 400);
      assert.equal(res.json.message, 'cursor is invalid');
    });
  }
});

describe('routing, CORS and malformed events', () => {
  const cases = [
    ['DELETE', '/users', 'GET, OPTIONS, POST'],
    ['PATCH', '/users', 'GET, OPTIONS, POST'],
    ['POST', '/users/{id}', 'DELETE, GET, OPTIONS, PUT'],
    ['PATCH', '/users/{id}', 'DELETE, GET, OPTIONS, PUT'],
    ['', '/users', 'GET, OPTIONS, POST'],
    ['CONSTRUCTOR', '/users', 'GET, OPTIONS, POST'],
  ];
  for (const [method, resource, allow] of cases) {
    test(`405 for ${method || '(no method)'} ${resource}`, async () => {
      const id = randomUUID();
      const res = await call(method, resource, resource.replace('{id}', id), { pathParameters: { id } });
      assert.equal(res.status, 405);
      assert.equal(res.headers.Allow, allow);
    });
  }

  for (const [resource, path] of [['/products', '/products'], [null, '/'], ['/{proxy+}', '/users/a/b'],
    [null, '/usersx'], [null, null], ['/users/{id}', '/users/a/b']]) {
    test(`404 for ${resource} ${path}`, async () => {
      const res = await call('GET', resource, path);
      assert.equal(res.status, 404);
      assert.equal(res.json.message, 'Not found');
    });
  }

  test('preflight OPTIONS', async () => {
    const res = await call('OPTIONS', '/users/{id}', `/users/${randomUUID()}`);
    assert.equal(res.status, 204);
    assert.equal(res.headers['Access-Control-Allow-Methods'], 'DELETE,GET,OPTIONS,PUT');
    assert.match(res.headers['Access-Control-Allow-Headers'], /Content-Type/);
    assert.equal(res.headers['Access-Control-Max-Age'], '3600');
  });

  test('ALLOWED_ORIGIN from the environment', async () => {
    process.env.ALLOWED_ORIGIN = 'https://admin.example.com';
    const res = await call('GET', '/users');
    assert.equal(res.headers['Access-Control-Allow-Origin'], 'https://admin.example.com');
    assert.equal(res.headers.Vary, 'Origin');
    assert.equal((await call('GET', '/elsewhere')).headers['Access-Control-Allow-Origin'], 'https://admin.example.com');
  });

  for (const event of [null, undefined, [], 'GET /users', 7,
    { httpMethod: 'POST', resource: '/users', body: 5 },
    { httpMethod: 'POST', resource: '/users', body: {} }]) {
    test(`400 for the malformed event ${JSON.stringify(event)}`, async () => {
      const result = await users.handler(event, lambdaContext);
      checkResponse(assert, result);
      assert.equal(result.statusCode, 400);
    });
  }

  test('tolerates wrongly typed event fields', async () => {
    const event = { httpMethod: 'GET', resource: '/users', path: '/users', queryStringParameters: ['limit'],
      pathParameters: 'x', requestContext: 7 };
    assert.equal((await users.handler(event, undefined)).statusCode, 200);
    assert.equal((await users.handler({ ...event, httpMethod: null }, null)).statusCode, 405);
  });
});

describe('faults', () => {
  test('a missing table is a generic 500, details only in the log', async () => {
    process.env.TABLE_NAME = 'no-such-table';
    const res = await call('GET', '/users');
    assert.equal(res.status, 500);
    assert.deepEqual(res.json, { message: 'Internal server error', requestId: 'req-test' });
    const entry = logs.map((l) => JSON.parse(l)).find((e) => e.level === 'ERROR');
    assert.equal(entry.error.name, 'ResourceNotFoundException'); // Powertools' error formatting
    assert.match(entry.error.stack, /ResourceNotFoundException/);
  });

  test('an unset TABLE_NAME is a generic 500', async () => {
    delete process.env.TABLE_NAME;
    assert.equal((await call('POST', '/users', '/users', { body: { name: 'x', email: 'x@ex.com' } })).status, 500);
  });

  test('exception text never reaches the client', async (t) => {
    t.mock.method(users.dynamodb, 'send', async () => {
      throw new Error('secret internals: password=hunter2');
    });
    const res = await call('GET', '/users');
    assert.equal(res.status, 500);
    assert.ok(!res.raw.body.includes('hunter2'));
  });

  test('throttling after the retries is a 503', async (t) => {
    t.mock.method(users.dynamodb, 'send', async () => {
      const err = new Error('slow down');
      err.name = 'ProvisionedThroughputExceededException';
      throw err;
    });
    const res = await byId(randomUUID());
    assert.equal(res.status, 503);
    assert.equal(res.headers['Retry-After'], '1');
    assert.ok(!res.raw.body.includes('slow down'));
  });

  test('the SDK client is built once, with retries, against the emulator', async () => {
    const { config } = users.dynamodb;
    assert.equal(await config.maxAttempts(), 3);
    const mode = typeof config.retryMode === 'function' ? await config.retryMode() : config.retryMode;
    assert.equal(mode, 'standard');
    const endpoint = await config.endpoint?.();
    if (endpoint) assert.equal(endpoint.hostname, '127.0.0.1');
  });
});

describe('logs', () => {
  test('one JSON object per line with level, message and request ids', async () => {
    await createUser();
    await call('GET', '/missing', '/missing', { requestId: 'abc' });
    assert.ok(logs.length >= 3);
    for (const line of logs) {
      assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
      const entry = JSON.parse(line);
      for (const key of ['timestamp', 'level', 'message', 'correlation_id', 'function_request_id']) assert.ok(key in entry, key);
      assert.equal(entry.function_request_id, 'lambda-req-test');
    }
    const served = logs.map((l) => JSON.parse(l)).filter((e) => e.message === 'request served');
    assert.deepEqual(served.map((e) => [e.method, e.status, e.correlation_id]), [['POST', 201, 'req-test'], ['GET', 404, 'abc']]);
  });

  test('LOG_LEVEL filters', async () => {
    process.env.LOG_LEVEL = 'ERROR';
    await call('GET', '/users');
    assert.deepEqual(logs, []);
  });
});

describe('issue 18: content types and names', () => {
  test('a text/plain body is 415 and stores nothing', async () => {
    const event = proxyEvent('POST', '/users', '/users', { body: { name: 'Ann', email: 'ann@example.com' } });
    event.headers = { 'Content-Type': 'text/plain' };
    const result = await users.handler(event, lambdaContext);
    assert.equal(result.statusCode, 415);
    assert.deepEqual((await call('GET', '/users')).json.items, []);
  });

  test('names with control, bidi or only invisible characters are 400 naming the field', async () => {
    for (const name of ['Ann\u202egnp.exe', '\u200b\u200b', 'a\u0007b', '\u2067Ann']) {
      const res = await call('POST', '/users', '/users', { body: { name, email: 'ann@example.com' } });
      assert.equal(res.status, 400, JSON.stringify(name));
      assert.deepEqual(res.json.errors.map((e) => e.split(' ')[0]), ['name']);
    }
  });

  test('a name of 256 emoji (512 UTF-16 units) is accepted; 257 are not', async () => {
    const ok = await call('POST', '/users', '/users', { body: { name: '\u{1F600}'.repeat(256), email: 'e@example.com' } });
    assert.equal(ok.status, 201);
    const tooLong = await call('POST', '/users', '/users', { body: { name: '\u{1F600}'.repeat(257), email: 'e@example.com' } });
    assert.deepEqual(tooLong.json.errors, ['name must be at most 256 characters']);
  });
});
