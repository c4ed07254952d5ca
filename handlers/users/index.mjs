/**
 * Users API (catalog-api profile): Lambda handler `index.handler`, runtime nodejs24.x.
 *
 * Uses the AWS SDK v3 that the runtime bundles (@aws-sdk/client-dynamodb, @aws-sdk/lib-dynamodb;
 * package.json lists them as devDependencies for the tests only) and Powertools' Logger (a
 * dependency, bundled into the function's one file).
 *
 * Routes (API Gateway REST, Lambda proxy integration):
 * - GET /users?limit=&cursor=   one page: `{items: [...], cursor: string|null}`. `limit` is 1 to
 *   100 (default 20); `cursor` is the opaque value of the previous page (base64url of DynamoDB's
 *   LastEvaluatedKey), null when there are no more pages. Items come in table (hash) order; as
 *   with any DynamoDB Scan with a Limit, the last page can be empty.
 * - POST /users                 body `{name, email}`: 201 with `{id, name, email, createdAt,
 *   updatedAt}` and a `Location` header; id = crypto.randomUUID(). `name` is trimmed, 1 to 256
 *   characters (code points), with no control or bidirectional control characters and at least
 *   one visible one; `email` is trimmed, at most 254 characters, `local@domain.tld`. Other fields are
 *   ignored.
 * - GET /users/{id}             the user, or 404.
 * - PUT /users/{id}             validated like POST; replaces name and email (keeps createdAt,
 *   sets updatedAt); 200 with the updated user, or 404 when there is no such user (a PUT never
 *   creates one).
 * - DELETE /users/{id}          204 with an empty body, or 404 when there is no such user.
 * Ids are UUIDs: any other id is a 404 without a database call.
 *
 * Errors: 400 validation/malformed input, 404, 405, 413 (MAX_BODY_BYTES), 415 (a body that is
 * not application/json), 503 when DynamoDB still
 * throttles after the SDK's retries, 500 otherwise; bodies are `{message, requestId}`.
 *
 * Environment: TABLE_NAME (required; partition key `id` of type S), ALLOWED_ORIGIN,
 * MAX_BODY_BYTES, LOG_LEVEL (see http.mjs).
 *
 * IAM: dynamodb:Scan, dynamodb:PutItem, dynamodb:GetItem, dynamodb:UpdateItem,
 * dynamodb:DeleteItem on the table.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  HttpError, decodeCursor, encodeCursor, log, parseLimit, respond, router, textField,
} from './http.mjs';

const MAX_NAME_LENGTH = 256;
const MAX_EMAIL_LENGTH = 254;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// A pragmatic address check (the HTML living standard's, plus a dot in the domain).
const EMAIL_RE = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

// Created once per container; honours AWS_ENDPOINT_URL (the emulator in tests) and AWS_REGION.
export const dynamodb = DynamoDBDocumentClient.from(
  new DynamoDBClient({
    maxAttempts: 3,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: 3000, requestTimeout: 10000 },
  }),
  { marshallOptions: { removeUndefinedValues: true } },
);

function tableName() {
  const name = process.env.TABLE_NAME;
  if (!name) throw new Error('TABLE_NAME is not set');
  return name;
}

/** `{name, email}` from a request body, or HttpError(400) listing every problem. */
function validUser(request) {
  const body = request.jsonObject();
  const errors = [];
  const name = textField(body, 'name', MAX_NAME_LENGTH, errors);
  const email = textField(body, 'email', MAX_EMAIL_LENGTH, errors);
  if (email !== undefined && !EMAIL_RE.test(email)) errors.push('email must be a valid email address');
  if (errors.length) throw new HttpError(400, 'Validation failed', errors);
  return { name, email };
}

function userId(request) {
  const { id } = request.params;
  if (!UUID_RE.test(id)) throw new HttpError(404, 'User not found');
  return id;
}

function keyFromCursor(cursor) {
  const key = decodeCursor(cursor);
  const names = Object.keys(key);
  if (names.length !== 1 || typeof key.id !== 'string' || !UUID_RE.test(key.id)) {
    throw new HttpError(400, 'cursor is invalid');
  }
  return { id: key.id };
}

function notFoundWhenConditionFails(err) {
  if (err && err.name === 'ConditionalCheckFailedException') {
    throw new HttpError(404, 'User not found');
  }
  throw err;
}

async function listUsers(request) {
  const input = { TableName: tableName(), Limit: parseLimit(request.query) };
  if (request.query.cursor !== undefined) input.ExclusiveStartKey = keyFromCursor(request.query.cursor);
  const page = await dynamodb.send(new ScanCommand(input));
  const last = page.LastEvaluatedKey;
  return respond(200, { items: page.Items ?? [], cursor: last ? encodeCursor(last) : null });
}

async function createUser(request) {
  const { name, email } = validUser(request);
  const now = new Date().toISOString();
  const user = { id: randomUUID(), name, email, createdAt: now, updatedAt: now };
  await dynamodb.send(new PutCommand({
    TableName: tableName(),
    Item: user,
    ConditionExpression: 'attribute_not_exists(id)',
  }));
  log('INFO', 'user created', { userId: user.id });
  return respond(201, user, { Location: `/users/${user.id}` });
}

async function getUser(request) {
  const id = userId(request);
  const { Item } = await dynamodb.send(new GetCommand({ TableName: tableName(), Key: { id } }));
  if (!Item) throw new HttpError(404, 'User not found');
  return respond(200, Item);
}

async function updateUser(request) {
  const id = userId(request);
  const { name, email } = validUser(request);
  const result = await dynamodb.send(new UpdateCommand({
    TableName: tableName(),
    Key: { id },
    UpdateExpression: 'SET #name = :name, #email = :email, #updatedAt = :now',
    ConditionExpression: 'attribute_exists(id)',
    ExpressionAttributeNames: { '#name': 'name', '#email': 'email', '#updatedAt': 'updatedAt' },
    ExpressionAttributeValues: { ':name': name, ':email': email, ':now': new Date().toISOString() },
    ReturnValues: 'ALL_NEW',
  })).catch(notFoundWhenConditionFails);
  log('INFO', 'user updated', { userId: id });
  return respond(200, result.Attributes);
}

async function deleteUser(request) {
  const id = userId(request);
  await dynamodb.send(new DeleteCommand({
    TableName: tableName(),
    Key: { id },
    ConditionExpression: 'attribute_exists(id)',
  })).catch(notFoundWhenConditionFails);
  log('INFO', 'user deleted', { userId: id });
  return respond(204);
}

export const handler = router({
  '/users': { GET: listUsers, POST: createUser },
  '/users/{id}': { GET: getUser, PUT: updateUser, DELETE: deleteUser },
});
