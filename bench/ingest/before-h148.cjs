'use strict';
// Preloaded (`--require`) into one API process of an A/B (bench/ingest/p99-probe.ts, PROBE_VARIANTS):
// puts back the ingest path's code as it was before h148's cuts (issue #20), so both sides run the same
// build: the body hash's canonical JSON member by member (canonicalJsonByParts, the previous
// canonicalJson, kept for anything but plain JSON), the storable check stacking every value, and the
// logger without the primitives' shortcut past pino's redactors (createLogger as it was). The API reads both through the packages' exports.
const path = require('node:path');
const pino = require('pino');
const Module = require('node:module');

const root = path.resolve(__dirname, '..', '..');

/** createLogger as it was (a logger module's own constants). */
function createLoggerBefore(logger) {
  const { REDACTED_PATHS, LOG_BUFFER_BYTES, LOG_FLUSH_MS } = logger;
  return function createLogger(options) {
    const base = { level: options.level, name: options.name, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
    if (options.destination) return pino(base, options.destination);
    return pino(base, pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS }));
  };
}

/** assertStorableJson as it was (every value stacked, every path built). */
function assertStorableJsonBefore(whmcs) {
  // eslint-disable-next-line no-control-regex -- the same pattern as signed-body.ts (the TS files' config turns the rule off)
  const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  const problemIn = (text) => {
    const match = UNSTORABLE.exec(text);
    if (!match) return null;
    return match[0] === '\u0000' ? 'contains a NUL character (\\u0000)' : 'contains an unpaired UTF-16 surrogate';
  };
  return function assertStorableJson(body) {
    const details = [];
    const stack = [{ value: body, path: '', depth: 0 }];
    while (stack.length > 0 && details.length < 10) {
      const { value, path: at, depth } = stack.pop();
      if (typeof value === 'string') {
        const problem = problemIn(value);
        if (problem) details.push({ path: at || '(body)', message: problem });
        continue;
      }
      if (value === null || typeof value !== 'object') continue;
      if (depth >= whmcs.MAX_JSON_DEPTH) {
        details.push({ path: at || '(body)', message: `nests deeper than ${whmcs.MAX_JSON_DEPTH} levels` });
        continue;
      }
      for (const [key, child] of Object.entries(value)) {
        const keyProblem = problemIn(key);
        const childPath = at ? `${at}.${keyProblem ? '?' : key}` : keyProblem ? '?' : key;
        if (keyProblem) details.push({ path: childPath, message: `a key ${keyProblem}` });
        stack.push({ value: child, path: childPath, depth: depth + 1 });
      }
    }
    if (details.length > 0) throw new whmcs.EventValidationError(details);
  };
}

/** The module's exports with some replaced: a plain object, so `export *` (Object.keys) still sees every name. */
function overlay(real, replaced) {
  const exports = {};
  for (const key of Object.keys(real)) if (!(key in replaced)) Object.defineProperty(exports, key, { enumerable: true, get: () => real[key] });
  for (const [key, value] of Object.entries(replaced)) Object.defineProperty(exports, key, { enumerable: true, value });
  return exports;
}

// The build's exports are getters that cannot be redefined: the modules that use them get an object
// over them instead. Installed before anything of the bridge is loaded (the config package's own
// runService reads createLogger through its './logger').
const load = Module._load;
Module._load = function loadBefore(request, parent, isMain) {
  const real = load.call(this, request, parent, isMain);
  if (request === '@ictvoip/whmcs') return overlay(real, { canonicalJson: real.canonicalJsonByParts, assertStorableJson: assertStorableJsonBefore(real) });
  const fromConfig = parent && parent.filename && parent.filename.startsWith(path.join(root, 'packages/config/dist'));
  if (request === '@ictvoip/config' || (fromConfig && request === './logger')) return overlay(real, { createLogger: createLoggerBefore(real) });
  return real;
};
