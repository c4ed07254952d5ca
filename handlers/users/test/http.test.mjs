// The HTTP library per invocation, without a database: ids that overlapping invocations keep to
// themselves, 415 for bodies that are not JSON, text-field checks, linear slash trimming.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { performance } from 'node:perf_hooks';

import {
  HttpError, logSink, requestId, respond, router, textField, trimTrailingSlashes,
} from '../http.mjs';

function event(id, method = 'GET', body = null, headers = null, query = null) {
  return { resource: '/items', path: '/items', httpMethod: method, body, headers, queryStringParameters: query,
    requestContext: { requestId: id } };
}

async function captured(fn) {
  const lines = [];
  const original = logSink.write;
  logSink.write = (line) => { lines.push(JSON.parse(line)); };
  try {
    return { value: await fn(), lines };
  } finally {
    logSink.write = original;
  }
}

test('two overlapping invocations keep their own ids in responses and logs', async () => {
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  let inside = 0;
  const { log } = await import('../http.mjs');
  const handler = router({
    '/items': {
      GET: async (request) => {
        inside += 1;
        log('INFO', 'waiting');
        await gate; // both invocations are in flight here at once
        log('INFO', 'resumed');
        if (request.query.fail) throw new HttpError(409, 'conflict');
        return respond(200, { seen: requestId() });
      },
    },
  });
  const { value: [a, b], lines } = await captured(async () => {
    const first = handler(event('api-A'), { awsRequestId: 'lambda-A' });
    const second = handler(event('api-B', 'GET', null, null, { fail: '1' }), { awsRequestId: 'lambda-B' });
    while (inside < 2) await new Promise((r) => setImmediate(r));
    release();
    return Promise.all([first, second]);
  });
  assert.deepEqual(JSON.parse(a.body), { seen: 'api-A' });
  assert.deepEqual(JSON.parse(b.body), { message: 'conflict', requestId: 'api-B' });
  assert.equal(lines.length, 6);
  for (const line of lines) assert.equal(line.function_request_id, line.correlation_id.replace('api-', 'lambda-'), JSON.stringify(line));
  assert.deepEqual(lines.map((l) => l.correlation_id).sort(), ['api-A', 'api-A', 'api-A', 'api-B', 'api-B', 'api-B']);
  const served = Object.fromEntries(lines.filter((l) => l.message === 'request served').map((l) => [l.correlation_id, l.status]));
  assert.deepEqual(served, { 'api-A': 200, 'api-B': 409 });
  assert.equal(requestId(), null); // nothing outlives the invocation
});

for (const method of ['POST', 'PUT', 'PATCH']) {
  test(`a ${method} body that is not JSON is 415, never parsed as JSON`, async () => {
    const handler = router({ '/items': { [method]: async (request) => respond(200, request.jsonObject()) } });
    const cases = [
      ['text/plain', 415], ['application/x-www-form-urlencoded', 415], ['application/merge-patch+json', 415],
      ['application/jsonp', 415], ['', 415],
      ['application/json', 200], ['Application/JSON; charset=utf-8', 200], [null, 200],
    ];
    for (const [type, status] of cases) {
      const headers = type === null ? null : { 'content-TYPE': type };
      const { value: res } = await captured(() => handler(event('r', method, '{"a":1}', headers), {}));
      assert.equal(res.statusCode, status, String(type));
      assert.deepEqual(JSON.parse(res.body), status === 415
        ? { message: 'Content-Type must be application/json', requestId: 'r' } : { a: 1 });
    }
  });
}

test('text fields refuse control, bidi and invisible-only text, naming the field', () => {
  const cases = {
    'a\u0000b': 'must not contain control characters',
    'a\nb': 'must not contain control characters',
    'a\u009fb': 'must not contain control characters',
    'abc\u202edcba': 'must not contain bidirectional control characters',
    '\u2066x\u2069': 'must not contain bidirectional control characters',
    'x\u200fy': 'must not contain bidirectional control characters',
    '\u200b': 'must contain a visible character',
    '\u200b\u2060\ufeff\u00ad': 'must contain a visible character',
    '\u3164\u3164': 'must contain a visible character',
    '\u115f\u034f\ufe0f': 'must contain a visible character',
    '\u{E0041}\u{E0042}': 'must contain a visible character',
    '\u3000 \u00a0': 'must be a non-empty string',
  };
  for (const [value, problem] of Object.entries(cases)) {
    const errors = [];
    assert.equal(textField({ name: value }, 'name', 256, errors), undefined, JSON.stringify(value));
    assert.deepEqual(errors, [`name ${problem}`], JSON.stringify(value));
  }
});

test('text fields accept real names and count characters (code points), not UTF-16 units', () => {
  for (const value of ['Zoë', '\u{1F600}'.repeat(256), 'a\u200db', '\u{1F469}\u200d\u{1F4BB}', 'x\u00ady', 'مرحبا', 'שלום', ' padded\u3000']) {
    const errors = [];
    assert.equal(textField({ name: value }, 'name', 256, errors), value.trim(), JSON.stringify(value));
    assert.deepEqual(errors, []);
  }
  const errors = [];
  assert.equal(textField({ name: '\u{1F600}'.repeat(257) }, 'name', 256, errors), undefined);
  assert.deepEqual(errors, ['name must be at most 256 characters']);
});

test('trailing slashes are trimmed in linear time', async () => {
  assert.equal(trimTrailingSlashes('/users///'), '/users');
  assert.equal(trimTrailingSlashes('/a//b/'), '/a//b');
  assert.equal(trimTrailingSlashes('///'), '');
  // A long run of slashes not at the end made the /\/+$/ regex quadratic: 100,000 took ~10 s.
  // Linear, it is well under a millisecond; one second is a guard against a quadratic return.
  const handler = router({ '/users': { GET: async () => respond(200, {}) } });
  const path = `/${'/'.repeat(100_000)}users`;
  const started = performance.now();
  const { value: res } = await captured(() => handler({ httpMethod: 'GET', path }, {}));
  assert.equal(res.statusCode, 404);
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
});
