// Runs one Lambda Node.js handler locally, for serverless-infra's `invoke` and `serve`.
//
//   node node_runner.mjs <handler directory> <module.function>
//
// Like a Lambda execution environment it imports the module once (init), then serves
// invocations one at a time. Protocol, one JSON object per line:
//   stdout, once:            {"ready": true} | {"initError": {errorType, errorMessage, stackTrace}}
//   stdin, per invocation:   {"event": ..., "context": {functionName, ..., timeoutMs}}
//   stdout, per invocation:  {"result": ...} | {"error": {errorType, errorMessage, stackTrace}}
// Whatever the handler prints (console.*, process.stdout) goes to stderr: in Lambda it is the
// function's log, and here stdout carries only the protocol. Each invocation's log ends with a
// line `END_OF_LOG <n>` (n counts invocations from 1), on a line of its own even after output
// with no newline, written before its answer: the two pipes are read apart, and the caller
// waits for it so that an invocation's log is never shown after its answer.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';

const [directory, handlerSpec] = process.argv.slice(2);
const END_OF_LOG = '\u0000end-of-log';
const reply = process.stdout.write.bind(process.stdout);
// Everything the handler prints goes through here, so the runner knows whether a line is open.
const toStderr = process.stderr.write.bind(process.stderr);
let lineOpen = false;
process.stderr.write = (chunk, ...rest) => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  if (text.length) lineOpen = !text.endsWith('\n');
  return toStderr(chunk, ...rest);
};
const log = (...args) => process.stderr.write(`${format(...args)}\n`);
process.stdout.write = process.stderr.write;
for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace']) console[level] = log;

function send(message) {
  reply(`${JSON.stringify(message)}\n`);
}

let invocations = 0;
function answer(text) {
  invocations += 1;
  process.stderr.write(`${lineOpen ? '\n' : ''}${END_OF_LOG} ${invocations}\n`);
  reply(text);
}

function describe(err) {
  const stack = typeof err?.stack === 'string' ? err.stack.split('\n').slice(1) : [];
  return {
    errorType: err?.name ?? typeof err,
    errorMessage: err?.message ?? String(err),
    stackTrace: stack.map((line) => line.trim()),
  };
}

// The runtime's resolution: <module>.js, .mjs or .cjs in the handler directory.
function moduleFile(spec) {
  const base = spec.slice(0, spec.lastIndexOf('.'));
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const file = path.resolve(directory, base + ext);
    if (existsSync(file)) return file;
  }
  throw Object.assign(new Error(`Cannot find module '${base}' in ${directory}`),
    { name: 'Runtime.ImportModuleError' });
}

async function load() {
  const name = handlerSpec.slice(handlerSpec.lastIndexOf('.') + 1);
  const mod = await import(pathToFileURL(moduleFile(handlerSpec)).href);
  const fn = mod[name] ?? mod.default?.[name];
  if (typeof fn !== 'function') {
    throw Object.assign(new Error(`${handlerSpec} is undefined or not exported`),
      { name: 'Runtime.HandlerNotFound' });
  }
  return fn;
}

// Callback-style handlers (event, context, callback) are still supported by the runtime.
function call(handler, event, context) {
  if (handler.length < 3) return Promise.resolve(handler(event, context));
  return new Promise((resolve, reject) => {
    const returned = handler(event, context, (err, value) => (err ? reject(err) : resolve(value)));
    if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
  });
}

let handler;
try {
  handler = await load();
} catch (err) {
  send({ initError: describe(err) });
  process.exit(0);
}
send({ ready: true });

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  const { event, context: info } = JSON.parse(line);
  const deadline = Date.now() + info.timeoutMs;
  const context = {
    ...info,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  delete context.timeoutMs;
  try {
    const result = await call(handler, event, context);
    // Lambda returns the JSON serialisation of the result: undefined becomes null.
    answer(`${JSON.stringify({ result: result === undefined ? null : result })}\n`);
  } catch (err) {
    answer(`${JSON.stringify({ error: describe(err) })}\n`);
  }
}
