// The caller's identity, as the users handler reads it from each authorizer's request context.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { callerOf, router, respond } from '../http.mjs';

const event = (requestContext) => ({ httpMethod: 'GET', path: '/me', resource: '/me', requestContext });

test('Cognito claims, JWT authorizer context, IAM caller, anonymous', () => {
  assert.deepEqual(callerOf(event({ authorizer: { claims: { sub: 'u-1', scope: 'api/read' } }, identity: { apiKeyId: 'k' } })),
    { kind: 'cognito', id: 'u-1', scopes: ['api/read'], claims: { sub: 'u-1', scope: 'api/read' }, apiKeyId: 'k' });
  const jwt = callerOf(event({ authorizer: { principalId: 'u-2', sub: 'u-2', scope: 'a b', integrationLatency: 3 } }));
  assert.equal(jwt.kind, 'jwt');
  assert.equal(jwt.id, 'u-2');
  assert.deepEqual(jwt.scopes, ['a', 'b']);
  assert.deepEqual(callerOf(event({ identity: { userArn: 'arn:aws:iam::123456789012:user/x' } })).kind, 'iam');
  assert.deepEqual(callerOf(event({ identity: { apiKeyId: 'k' } })),
    { kind: 'anonymous', id: null, scopes: [], claims: {}, apiKeyId: 'k' });
  for (const bad of [undefined, null, 'x', { requestContext: 'x' }, event({ authorizer: { principalId: true } })]) {
    assert.equal(callerOf(bad).kind, 'anonymous');
  }
});

test('routes see the caller on the request', async () => {
  const handler = router({ '/me': { GET: async (request) => respond(200, request.caller) } });
  const res = await handler(event({ authorizer: { claims: { sub: 'u-9' } } }), {});
  assert.equal(res.statusCode, 200);
  assert.equal(JSON.parse(res.body).id, 'u-9');
});
