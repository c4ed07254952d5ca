/**
 * API Gateway REST (Lambda proxy integration) plumbing for the users handler.
 *
 * The same behaviour as handlers/products/apigw.py (the Python handlers' copy):
 * - routing on the event's `resource` (or, failing that, its `path`) and `httpMethod`: 404 for
 *   an unknown path, 405 (with `Allow`) for an unsupported method on a known path, 204 for a
 *   CORS preflight OPTIONS;
 * - request bodies: `isBase64Encoded` decoding, a size limit (413), a JSON media type (415 for
 *   any other Content-Type: API Gateway validates only bodies whose type has a model), UTF-8
 *   and JSON parsing (400 for anything malformed, including text with lone surrogates);
 * - text fields (`textField`): trimmed, length in characters (code points, as Python counts), no
 *   control or bidirectional control characters, not only invisible ones (400 naming the field);
 * - JSON responses with CORS headers; error bodies are `{message, requestId}` (plus `errors`
 *   for validation failures) and never carry exception text or stack traces;
 * - faults: AWS throttling that outlasts the SDK's retries is a 503, anything else unexpected
 *   a generic 500; the details go to the log only;
 * - structured logs (Powertools' Logger): one JSON object per line on stdout with level, message,
 *   `correlation_id` (API Gateway's request id, which error bodies return as `requestId`) and
 *   `function_request_id` (Lambda's). The ids live in an AsyncLocalStorage entered for each
 *   invocation, never in module state, so invocations that overlap in one process (Lambda
 *   managed instances run several at once) each print and return their own.
 *
 * Environment:
 *   ALLOWED_ORIGIN  Access-Control-Allow-Origin value (default `*`)
 *   MAX_BODY_BYTES  largest accepted request body in bytes, after base64 decoding (default 65536)
 *   LOG_LEVEL       DEBUG, INFO (default), WARNING or ERROR
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const CORS_MAX_AGE_SECONDS = 3600;
const ALLOW_HEADERS = 'Content-Type,Authorization,X-Amz-Date,X-Amz-Security-Token,X-Api-Key';
// Our LOG_LEVEL names -> Powertools' (which reads LOG_LEVEL itself, but knows WARN, not WARNING).
const LEVELS = { DEBUG: 'DEBUG', INFO: 'INFO', WARN: 'WARN', WARNING: 'WARN', ERROR: 'ERROR' };
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ThrottlingException',
  'TooManyRequestsException',
]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const CURSOR = /^[A-Za-z0-9_-]{1,2048}$/;
const LIMIT = /^[0-9]{1,6}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL = /\p{Cc}/u;
// Bidirectional controls (Unicode's Bidi_Control): they reorder how the text around them shows.
const BIDI_CONTROL = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
// Spaces, format characters and the other Default_Ignorable_Code_Point ranges (fillers and
// selectors that render as nothing); the same set as apigw.py's.
const INVISIBLE = /^[\s\p{Cc}\p{Cf}\p{Z}\u034F\u115F\u1160\u17B4\u17B5\u180B-\u180F\u2065\u3164\uFE00-\uFE0F\uFFA0\uFFF0-\uFFF8\u{1BCA0}-\u{1BCA3}\u{1D173}-\u{1D17A}\u{E0000}-\u{E0FFF}]*$/u;

// (API Gateway request id, Lambda request id) of the invocation being served: entered per
// invocation by the router, so concurrent invocations never see each other's.
const invocation = new AsyncLocalStorage();
const NO_IDS = Object.freeze({ requestId: null, lambdaRequestId: null });

/** API Gateway's request id of the invocation being served (null outside one). */
export function requestId() {
  return (invocation.getStore() ?? NO_IDS).requestId;
}

/** Where log lines go; tests replace `write`. */
export const logSink = { write: (line) => process.stdout.write(line) };

// Powertools' Logger, printing through logSink (printLog is its documented override point).
class SinkLogger extends Logger {
  printLog(logLevel, item) {
    item.prepareForPrint();
    logSink.write(`${JSON.stringify(item.getAttributes(), this.getJsonReplacer())}\n`);
  }
}

function envLevel() {
  return LEVELS[String(process.env.LOG_LEVEL || 'INFO').toUpperCase()] ?? 'INFO';
}

export const logger = new SinkLogger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME || process.env.AWS_LAMBDA_FUNCTION_NAME || 'users',
  logLevel: envLevel(),
});

/** A client-facing error: its status and message are safe to return as they are. */
export class HttpError extends Error {
  constructor(status, message, errors = undefined) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.errors = errors;
  }
}

/**
 * Log one JSON line at `level` (DEBUG, INFO, WARNING, ERROR) with `fields` as keys and the
 * invocation's ids (passed on each call: the logger's own keys are shared by the process).
 */
export function log(level, message, fields = {}) {
  const { requestId: correlation, lambdaRequestId } = invocation.getStore() ?? NO_IDS;
  const method = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn' }[level] ?? 'error';
  logger[method](message, {
    ...fields,
    ...(correlation === null ? {} : { correlation_id: correlation }),
    ...(lambdaRequestId === null ? {} : { function_request_id: lambdaRequestId }),
  });
}

/** True for a string that is valid Unicode (no lone surrogates), so it can be stored. */
export function isText(value) {
  if (typeof value !== 'string') return false;
  return typeof value.isWellFormed === 'function' ? value.isWellFormed() : !LONE_SURROGATE.test(value);
}

// ---------------------------------------------------------------------------------------------
// Responses

function baseHeaders() {
  const origin = process.env.ALLOWED_ORIGIN || '*';
  const headers = {
    'Content-Type': 'application/json',
    'Access-Control-Allow-Origin': origin,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  };
  if (origin !== '*') headers.Vary = 'Origin';
  return headers;
}

/** A Lambda proxy response; `payload` undefined means an empty body. */
export function respond(status, payload = undefined, headers = {}) {
  return {
    statusCode: status,
    headers: { ...baseHeaders(), ...headers },
    body: payload === undefined ? '' : JSON.stringify(payload),
    isBase64Encoded: false,
  };
}

export function error(status, message, errors = undefined, headers = {}) {
  const payload = { message, requestId: requestId() };
  if (errors && errors.length) payload.errors = errors;
  return respond(status, payload, headers);
}

// ---------------------------------------------------------------------------------------------
// Requests

export function maxBodyBytes() {
  const raw = process.env.MAX_BODY_BYTES;
  const value = /^[0-9]+$/.test(raw ?? '') ? Number(raw) : NaN;
  return Number.isSafeInteger(value) && value > 0 ? value : DEFAULT_MAX_BODY_BYTES;
}

function bodyText(event) {
  const { body } = event;
  if (body === null || body === undefined) return null;
  if (typeof body !== 'string') throw new HttpError(400, 'Request body must be a string');
  const limit = maxBodyBytes();
  if (event.isBase64Encoded === true) {
    if (body.length > Math.ceil(limit / 3) * 4 + 4) {
      throw new HttpError(413, `Request body is larger than ${limit} bytes`);
    }
    if (body.length % 4 !== 0 || !BASE64.test(body)) {
      throw new HttpError(400, 'Request body is not valid base64');
    }
    const raw = Buffer.from(body, 'base64');
    if (raw.length > limit) throw new HttpError(413, `Request body is larger than ${limit} bytes`);
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
    } catch {
      throw new HttpError(400, 'Request body must be UTF-8 encoded');
    }
  }
  if (Buffer.byteLength(body, 'utf8') > limit) {
    throw new HttpError(413, `Request body is larger than ${limit} bytes`);
  }
  if (!isText(body)) throw new HttpError(400, 'Request body must be UTF-8 encoded');
  return body;
}

/**
 * `body[field]` trimmed, or undefined with the problem pushed on `errors`: a non-empty string of
 * at most `maxLength` characters (code points, not UTF-16 units), with no control characters,
 * no bidirectional controls (which make text display in another order than it is stored), and
 * not only invisible characters.
 */
export function textField(body, field, maxLength, errors) {
  const value = body[field];
  if (!isText(value) || value.trim() === '') {
    errors.push(`${field} must be a non-empty string`);
    return undefined;
  }
  const trimmed = value.trim();
  let problem;
  let length = 0;
  for (const _ of trimmed) length += 1; // code points
  if (length > maxLength) problem = `must be at most ${maxLength} characters`;
  else if (CONTROL.test(trimmed)) problem = 'must not contain control characters';
  else if (BIDI_CONTROL.test(trimmed)) problem = 'must not contain bidirectional control characters';
  else if (INVISIBLE.test(trimmed)) problem = 'must contain a visible character';
  if (problem === undefined) return trimmed;
  errors.push(`${field} ${problem}`);
  return undefined;
}

/** The media type of a header map's Content-Type (lower case, no parameters), or undefined. */
function mediaType(headers) {
  const name = Object.keys(headers).find((k) => k.toLowerCase() === 'content-type');
  return name === undefined ? undefined : headers[name].split(';')[0].trim().toLowerCase();
}

function stringMap(value) {
  const out = {};
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/** The parts of a proxy event a route needs, already checked for shape. */
/**
 * Who API Gateway let through, from the proxy event's request context: `kind` is "cognito"
 * (user pool token claims), "jwt" (context of the JWT Lambda authorizer), "iam" (SigV4 caller
 * ARN) or "anonymous"; `apiKeyId` identifies a usage plan's key, never a person.
 */
export function callerOf(event) {
  const rc = event && typeof event === 'object' && event.requestContext && typeof event.requestContext === 'object'
    ? event.requestContext : {};
  const identity = rc.identity && typeof rc.identity === 'object' ? rc.identity : {};
  const apiKeyId = typeof identity.apiKeyId === 'string' ? identity.apiKeyId : null;
  const authorizer = rc.authorizer && typeof rc.authorizer === 'object' ? rc.authorizer : {};
  const claims = stringMap(authorizer.claims);
  const scopesOf = (text) => (typeof text === 'string' ? text.split(' ').filter(Boolean) : []);
  if (Object.keys(claims).length) {
    return { kind: 'cognito', id: claims.sub ?? null, scopes: scopesOf(claims.scope), claims, apiKeyId };
  }
  const context = Object.fromEntries(Object.entries(authorizer)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number').map(([k, v]) => [k, String(v)]));
  if (context.principalId) {
    return { kind: 'jwt', id: context.sub || context.principalId, scopes: scopesOf(context.scope), claims: context, apiKeyId };
  }
  if (typeof identity.userArn === 'string' && identity.userArn) {
    return { kind: 'iam', id: identity.userArn, scopes: [], claims: {}, apiKeyId };
  }
  return { kind: 'anonymous', id: null, scopes: [], claims: {}, apiKeyId };
}

export class Request {
  constructor(method, path, params, query, body, caller = callerOf(undefined), headers = {}) {
    Object.assign(this, { method, path, params, query, body, caller, headers });
  }

  /**
   * The body parsed as JSON; HttpError(400) when it is absent or malformed, 415 when its
   * Content-Type is not JSON. API Gateway validates a body against the method's model only when
   * its Content-Type has one (`application/json`; none counts as that): any other type reaches
   * the handler unvalidated, so it is refused here rather than parsed as JSON anyway.
   */
  json() {
    if ((mediaType(this.headers) ?? 'application/json') !== 'application/json') {
      throw new HttpError(415, 'Content-Type must be application/json');
    }
    if (this.body === null || this.body.trim() === '') {
      throw new HttpError(400, 'Request body is required');
    }
    try {
      return JSON.parse(this.body);
    } catch {
      throw new HttpError(400, 'Request body is not valid JSON');
    }
  }

  /** The body parsed as a JSON object; HttpError(400) for any other JSON value. */
  jsonObject() {
    const value = this.json();
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new HttpError(400, 'Request body must be a JSON object');
    }
    return value;
  }
}

// ---------------------------------------------------------------------------------------------
// Routing

function templateRegex(template) {
  const names = [];
  const source = template
    .split(/\{([A-Za-z0-9_]+)\}/)
    .map((part, i) => {
      if (i % 2) {
        names.push(part);
        return '([^/]+)';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return { regex: new RegExp(`^${source}$`), names };
}

/** `path` without its trailing slashes, in linear time (a `/\/+$/` regex is quadratic on a long
 * run of slashes that is not at the end: each start position rescans the run). */
export function trimTrailingSlashes(path) {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 47) end -= 1; // '/'
  return path.slice(0, end);
}

function safeDecode(value) {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function requestIds(event, context) {
  const rc = event && typeof event === 'object' ? event.requestContext : undefined;
  const apiId = rc && typeof rc === 'object' && typeof rc.requestId === 'string' ? rc.requestId : null;
  const lambdaId = context && typeof context.awsRequestId === 'string' ? context.awsRequestId : null;
  return [apiId, lambdaId];
}

/**
 * A Lambda handler serving `routes` ({template: {METHOD: async (request) => response}}).
 * The returned function never throws.
 */
export function router(routes) {
  const table = new Map(
    Object.entries(routes).map(([template, methods]) => [
      template,
      {
        ...templateRegex(template),
        methods: Object.fromEntries(Object.entries(methods).map(([m, fn]) => [m.toUpperCase(), fn])),
      },
    ]),
  );

  function match(event) {
    const { resource, path } = event;
    if (typeof resource === 'string' && table.has(resource)) {
      const route = table.get(resource);
      const given = stringMap(event.pathParameters);
      if (route.names.every((name) => given[name])) {
        return [route, Object.fromEntries(route.names.map((name) => [name, given[name]]))];
      }
    }
    if (typeof path === 'string') {
      const normalized = path.length > 1 ? trimTrailingSlashes(path) : path;
      for (const route of table.values()) {
        const found = route.regex.exec(normalized);
        if (found) {
          return [route, Object.fromEntries(route.names.map((name, i) => [name, safeDecode(found[i + 1])]))];
        }
      }
    }
    return null;
  }

  async function dispatch(event, method) {
    const matched = match(event);
    if (!matched) throw new HttpError(404, 'Not found');
    const [route, params] = matched;
    const allowed = [...Object.keys(route.methods), 'OPTIONS'].sort();
    if (method === 'OPTIONS') {
      return respond(204, undefined, {
        'Access-Control-Allow-Methods': allowed.join(','),
        'Access-Control-Allow-Headers': ALLOW_HEADERS,
        'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
      });
    }
    const fn = Object.hasOwn(route.methods, method) ? route.methods[method] : undefined;
    if (!fn) return error(405, 'Method not allowed', undefined, { Allow: allowed.join(', ') });
    const path = typeof event.path === 'string' ? event.path : '';
    return fn(new Request(method, path, params, stringMap(event.queryStringParameters), bodyText(event),
      callerOf(event), stringMap(event.headers)));
  }

  async function serve(event) {
    const started = process.hrtime.bigint();
    logger.setLogLevel(envLevel()); // the local runner may change the environment between invocations
    let method = '';
    let path = null;
    let response;
    try {
      if (!event || typeof event !== 'object' || Array.isArray(event)) {
        throw new HttpError(400, 'Malformed request');
      }
      method = typeof event.httpMethod === 'string' ? event.httpMethod.toUpperCase() : '';
      path = typeof event.path === 'string' ? event.path : null;
      response = await dispatch(event, method);
    } catch (err) {
      if (err instanceof HttpError) {
        response = error(err.status, err.message, err.errors);
      } else if (err && THROTTLING.has(err.name)) {
        log('WARNING', 'AWS throttled the request', { awsErrorCode: err.name });
        response = error(503, 'Service is busy, please retry', undefined, { 'Retry-After': '1' });
      } else {
        log('ERROR', 'Unhandled error', err instanceof Error ? { error: err } : { error: String(err) });
        response = error(500, 'Internal server error');
      }
    }
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    log('INFO', 'request served', {
      method, path, status: response.statusCode, durationMs: Math.round(durationMs * 10) / 10,
    });
    return response;
  }

  return function handler(event, context) {
    const [apiId, lambdaId] = requestIds(event, context);
    return invocation.run({ requestId: apiId, lambdaRequestId: lambdaId }, () => serve(event));
  };
}

// ---------------------------------------------------------------------------------------------
// Pagination

/** The `limit` query parameter: an integer from 1 to `maximum`; 400 otherwise. */
export function parseLimit(query, fallback = 20, maximum = 100) {
  const raw = query.limit;
  if (raw === undefined) return fallback;
  const value = LIMIT.test(raw) ? Number(raw) : NaN;
  if (!(value >= 1 && value <= maximum)) {
    throw new HttpError(400, `limit must be an integer from 1 to ${maximum}`);
  }
  return value;
}

/** An opaque cursor for a DynamoDB LastEvaluatedKey: base64url (unpadded) of its JSON. */
export function encodeCursor(key) {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The JSON object inside a cursor; HttpError(400) when it is not one of ours. */
export function decodeCursor(cursor) {
  const invalid = new HttpError(400, 'cursor is invalid');
  if (typeof cursor !== 'string' || !CURSOR.test(cursor) || cursor.length % 4 === 1) throw invalid;
  let key;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(cursor, 'base64url'));
    key = JSON.parse(text);
  } catch {
    throw invalid;
  }
  if (key === null || typeof key !== 'object' || Array.isArray(key)) throw invalid;
  return key;
}
