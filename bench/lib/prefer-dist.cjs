'use strict';
// Loaded after tsx (`node --import tsx --import ./bench/lib/prefer-dist.cjs`: it must wrap tsx's own
// resolver, which a `--require` preload would run before) into every bench process that runs through tsx: the bench's own
// scripts are TypeScript, but the bridge code they import must be what production runs, the compiled
// build (issue #20). tsx resolves a workspace package's `types` export (src/*.ts) first, so each
// `@ictvoip/*` import that resolves to a workspace's src/<file>.ts is sent to its dist/<file>.js. A
// package without a build (a clean clone before `npm run build`) stays on its source: bench/run.ts
// builds before it measures, and `npm run bench` builds before it loads anything.
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');

// <workspace>/src/<file>.ts → <workspace>/dist/<file>.js, the build's layout (scripts/build.js).
const SOURCE_FILE = /^(.*[\\/](?:packages|apps)[\\/][^\\/]+)[\\/]src[\\/](.+)\.ts$/;
const resolveFilename = Module._resolveFilename;

Module._resolveFilename = function preferDist(request, parent, isMain, options) {
  const resolved = resolveFilename.call(this, request, parent, isMain, options);
  if (!request.startsWith('@ictvoip/')) return resolved;
  const source = SOURCE_FILE.exec(resolved);
  if (!source) return resolved;
  const compiled = path.join(source[1], 'dist', `${source[2]}.js`);
  return fs.existsSync(compiled) ? compiled : resolved;
};
