#!/usr/bin/env node
/**
 * The test files that load a FusionPBX schema (FUSIONPBX_SCHEMA or the fixture): those CI runs a second
 * time against the full 5.3 schema. Derived from the sources, so a new such test is in without a list
 * to keep: a test file is in when it, or a test helper it imports by relative path (transitively),
 * names the test kit's loader (`loadFusionpbxSchema`). Production sources (`src/`) are not followed:
 * they never read FUSIONPBX_SCHEMA.
 *
 *   node scripts/fusionpbx-schema-tests.js                 the selected test files, one per line
 *   node scripts/fusionpbx-schema-tests.js --check LOADS   exit 1 naming each test file LOADS says loaded a
 *                                                          schema that the selection misses
 * LOADS is what the test kit writes when FUSIONPBX_SCHEMA_LOADS names a file (one "test file<TAB>schema"
 * line per load): the runtime proof that the source-derived choice missed nothing.
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const LOADER = /\bloadFusionpbxSchema\b/;
const SPECIFIER = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

function testFiles() {
  const files = [];
  for (const top of ['apps', 'packages']) {
    for (const name of fs.readdirSync(path.join(ROOT, top))) {
      const dir = path.join(ROOT, top, name, 'test');
      if (fs.existsSync(dir)) collect(dir, files);
    }
  }
  return files.filter((file) => file.endsWith('.test.ts')).sort();
}

function collect(dir, out) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) collect(full, out);
    else out.push(full);
  }
}

function resolveImport(from, specifier) {
  const base = path.resolve(path.dirname(from), specifier);
  return [base, `${base}.ts`, path.join(base, 'index.ts')].find((file) => file.endsWith('.ts') && fs.existsSync(file)) ?? null;
}

function isProductionSource(file) {
  return path.relative(ROOT, file).split(path.sep).includes('src');
}

/** Whether the file or a test helper it reaches by relative imports names the loader. */
function loadsSchema(testFile, cache) {
  const seen = new Set();
  const queue = [testFile];
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file) || isProductionSource(file)) continue;
    seen.add(file);
    if (!cache.has(file)) cache.set(file, fs.readFileSync(file, 'utf8'));
    const text = cache.get(file);
    if (LOADER.test(text)) return true;
    for (const match of text.matchAll(SPECIFIER)) {
      const target = resolveImport(file, match[1]);
      if (target) queue.push(target);
    }
  }
  return false;
}

function schemaTests() {
  const cache = new Map();
  return testFiles().filter((file) => loadsSchema(file, cache));
}

/** Test files that loaded a schema at run time (a LOADS file) but are not selected. */
function missed(loadsFile, selected) {
  const chosen = new Set(selected);
  const loaded = fs
    .readFileSync(loadsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t')[0]);
  return [...new Set(loaded)].filter((file) => !chosen.has(file)).sort();
}

function main(args) {
  const selected = schemaTests();
  if (args[0] !== '--check') {
    process.stdout.write(selected.map((file) => `${path.relative(ROOT, file)}\n`).join(''));
    return 0;
  }
  // No load at all means the recording is broken, not that no test loads a schema: the check would prove nothing.
  if (!args[1] || !fs.existsSync(args[1]) || fs.statSync(args[1]).size === 0) {
    process.stderr.write(`fusionpbx-schema-tests: no schema loads recorded in ${args[1] ?? '(no file named)'}: the run that should record them did not\n`);
    return 1;
  }
  const missing = missed(args[1], selected);
  for (const file of missing) process.stderr.write(`fusionpbx-schema-tests: ${path.relative(ROOT, file)} loads a FusionPBX schema but is not selected for the other schemas\n`);
  return missing.length > 0 ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { schemaTests, missed };
