'use strict';
// Preloaded (`--require`) into one API process of an A/B (bench/ingest/p99-probe.ts, PROBE_VARIANTS):
// puts back the ingest path's code as it was before h148's cuts (issue #20), so both sides run the same
// build: the body hash's canonical JSON member by member (canonicalJsonByParts, the previous
// canonicalJson, kept for anything but plain JSON) and the logger without the primitives' shortcut
// past pino's redactors (createLogger as it was). The API reads both through the packages' exports.
const path = require('node:path');
const pino = require('pino');
const Module = require('node:module');

const root = path.resolve(__dirname, '..', '..');
const config = require(path.join(root, 'packages/config/dist/index.js'));
const { REDACTED_PATHS, LOG_BUFFER_BYTES, LOG_FLUSH_MS } = config;
function createLogger(options) {
  const base = { level: options.level, name: options.name, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  if (options.destination) return pino(base, options.destination);
  return pino(base, pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS }));
}

// The build's exports are getters that cannot be redefined: the API's modules get an object over them instead.
const load = Module._load;
Module._load = function loadBefore(request, parent, isMain) {
  const real = load.call(this, request, parent, isMain);
  if (request === '@ictvoip/whmcs') return Object.create(real, { canonicalJson: { value: real.canonicalJsonByParts, enumerable: true } });
  const fromConfig = parent && parent.filename && parent.filename.startsWith(path.join(root, 'packages/config/dist'));
  if (request === '@ictvoip/config' || (fromConfig && request === './logger')) return Object.create(real, { createLogger: { value: createLogger, enumerable: true } });
  return real;
};
