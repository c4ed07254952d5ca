/**
 * API Gateway REST (Lambda proxy integration) plumbing for the users handler.
 *
 * The same behaviour as handlers/products/apigw.py (the Python handlers' copy):
 * - routing on the event's `resource` (or, failing that, its `path`) and `httpMethod`: 404 for
 *   an unknown path, 405 (with `Allow`) for an unsupported method on a known path, 204 for a
 *   CORS preflight OPTIONS;
 * - request bodies: `isBase64Encoded` decoding, a size limit (413), UTF-8 and JSON parsing (400
 *   for anything malformed, including text with lone surrogates);
 * - JSON responses with CORS headers; error bodies are `{message, requestId}` (plus `errors`
 *   for validation failures) and never carry exception text or stack traces;
 * - faults: AWS throttling that outlasts the SDK's retries is a 503, anything else unexpected
 *   a generic 500; the details go to the log only;
 * - structured logs: one JSON object per line on stdout with level, message and the API Gateway
 *   and Lambda request ids.
 *
 * Environment:
 *   ALLOWED_ORIGIN  Access-Control-Allow-Origin value (default `*`)
 *   MAX_BODY_BYTES  largest accepted request body in bytes, after base64 decoding (default 65536)
 *   LOG_LEVEL       DEBUG, INFO (default), WARNING or ERROR
 */

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const CORS_MAX_AGE_SECONDS = 3600;
const ALLOW_HEADERS = 'Content-Type,Authorization,X-Amz-Date,X-Amz-Security-Token,X-Api-Key';
const LEVELS = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };
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

// Ids of the invocation being served, stamped on every log line.
const ids = { requestId: null, lambdaRequestId: null };

/** Where log lines go; tests replace `write`. */
export const logSink = { write: (line) => process.stdout.write(line) };

/** A client-facing error: its status and message are safe to return as they are. */
export class HttpError extends Error {
  constructor(status, message, errors = undefined) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.errors = errors;
  }
}

/** Write one JSON log line (CloudWatch Logs keeps one event per line). */
export function log(level, message, fields = {}) {
  const threshold = LEVELS[String(process.env.LOG_LEVEL || 'INFO').toUpperCase()] ?? LEVELS.INFO;
  if ((LEVELS[level] ?? LEVELS.ERROR) < threshold) return;
  const base = { timestamp: new Date().toISOString(), level, message, ...ids };
  let line;
  try {
    line = JSON.stringify({ ...base, ...fields });
  } catch {
    line = JSON.stringify(base); // a field JSON cannot represent (BigInt, cycle): keep the line
  }
  logSink.write(`${line}\n`);
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
  const payload = { message, requestId: ids.requestId };
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
  constructor(method, path, params, query, body, caller = callerOf(undefined)) {
    Object.assign(this, { method, path, params, query, body, caller });
  }

  /** The body parsed as JSON; HttpError(400) when it is absent or malformed. */
  json() {
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
      const normalized = path.length > 1 ? path.replace(/\/+$/, '') : path;
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
      callerOf(event)));
  }

  return async function handler(event, context) {
    const started = process.hrtime.bigint();
    [ids.requestId, ids.lambdaRequestId] = requestIds(event, context);
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
        log('ERROR', 'Unhandled error', {
          error: err && err.name,
          exception: err && err.stack ? String(err.stack) : String(err),
        });
        response = error(500, 'Internal server error');
      }
    }
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    log('INFO', 'request served', {
      method, path, status: response.statusCode, durationMs: Math.round(durationMs * 10) / 10,
    });
    return response;
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
