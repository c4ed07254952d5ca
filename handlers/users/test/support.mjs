// Test support (not a test): a moto server on loopback, the users table, proxy events.
//
// `node --test` also loads this file as a test file, finds no tests in it and moves on.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const REGION = 'us-east-1';
export const TABLE = 'users-test';

async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Start `moto_server` (found on PATH) on a free loopback port, wait until it answers, and point
 * the SDK at it through the environment (fake credentials, region, AWS_ENDPOINT_URL). Must run
 * before the handler module is imported: the handler builds its client once, at import.
 */
export async function startMoto({ timeoutMs = 30000 } = {}) {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
  };
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    env,
    stdio: 'ignore',
  });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const spawnError = once(child, 'error').then(([err]) => err);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failed = await Promise.race([spawnError, sleep(100).then(() => null)]);
    if (failed) throw new Error(`could not start moto_server (is it on PATH?): ${failed.message}`);
    if (exited) throw new Error(`moto_server exited early: ${JSON.stringify(exited)}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer on ${endpoint} within ${timeoutMs} ms`);
    }
  }

  for (const name of ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ENDPOINT_URL_DYNAMODB']) {
    delete process.env[name];
  }
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ENDPOINT_URL: endpoint,
    AWS_EC2_METADATA_DISABLED: 'true',
    // The tests run on Node.js 20; the deployed runtime is nodejs24.x.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    TABLE_NAME: TABLE,
  });

  return {
    endpoint,
    /** Forget every resource the emulator holds. */
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      await res.arrayBuffer();
    },
    /** Stop the server and wait for it to exit. */
    async stop() {
      process.removeListener('exit', killOnExit);
      if (exited) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Create the users table (partition key `id`, S) through the SDK. */
export async function createUsersTable(name = TABLE) {
  const { DynamoDBClient, CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
  const client = new DynamoDBClient({});
  try {
    await client.send(new CreateTableCommand({
      TableName: name,
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }));
  } finally {
    client.destroy();
  }
}

/** An API Gateway REST proxy event; an object body is sent as JSON. */
export function proxyEvent(method, resource, path = resource, options = {}) {
  const {
    pathParameters = null, query = null, body = null, isBase64Encoded = false,
    requestId = 'req-test',
  } = options;
  return {
    resource,
    path,
    httpMethod: method,
    headers: { 'Content-Type': 'application/json' },
    queryStringParameters: query,
    pathParameters,
    body: body !== null && typeof body !== 'string' ? JSON.stringify(body) : body,
    isBase64Encoded,
    requestContext: { requestId, stage: 'test' },
  };
}

export const lambdaContext = { awsRequestId: 'lambda-req-test', functionName: 'users' };

const LEAK_MARKERS = ['stack', '    at ', 'Error:', 'Exception', 'TypeError', 'node_modules'];

/** What every response must look like, whatever the request was; returns the parsed body. */
export function checkResponse(assert, result) {
  assert.equal(typeof result, 'object');
  assert.ok(Number.isInteger(result.statusCode) && result.statusCode >= 200 && result.statusCode < 600);
  assert.ok(result.headers['Access-Control-Allow-Origin']);
  assert.equal(result.headers['Content-Type'], 'application/json');
  assert.equal(typeof result.body, 'string');
  if (result.statusCode === 204) {
    assert.equal(result.body, '');
    return undefined;
  }
  const payload = JSON.parse(result.body);
  if (result.statusCode >= 400) {
    assert.equal(typeof payload.message, 'string');
    assert.deepEqual(Object.keys(payload).filter((k) => !['message', 'requestId', 'errors'].includes(k)), []);
    const told = [payload.message, ...(payload.errors ?? [])].join(' '); // not the echoed id
    for (const marker of LEAK_MARKERS) assert.ok(!told.includes(marker), result.body);
  }
  return payload;
}

/** Capture the handler's log lines while `fn` runs. */
export async function captureLogs(logSink, fn) {
  const lines = [];
  const original = logSink.write;
  logSink.write = (line) => { lines.push(line); };
  try {
    const value = await fn();
    return { value, lines };
  } finally {
    logSink.write = original;
  }
}
