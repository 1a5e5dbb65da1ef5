#!/usr/bin/env node
/**
 * The test files that loaded a FusionPBX schema, read from what the test kit records when
 * FUSIONPBX_SCHEMA_LOADS names a file (one "test file<TAB>schema file" line per load). CI runs the whole
 * suite against the full 5.1 schema with the recording on, then exactly these files again against 5.3:
 * the choice comes from what the tests did, so there is no list to keep and a new such test is in.
 *
 *   node scripts/fusionpbx-schema-tests.js LOADS               the test files, one per line (exit 1: none recorded)
 *   node scripts/fusionpbx-schema-tests.js --check LOADS OTHER exit 1 naming each test file LOADS has and
 *                                                              OTHER (the second run's recording) lacks
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** The test files a recording names, sorted; none when the file is missing or empty. */
function loadedBy(loadsFile) {
  if (!loadsFile || !fs.existsSync(loadsFile)) return [];
  const files = fs
    .readFileSync(loadsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t')[0]);
  return [...new Set(files)].sort();
}

function main(args) {
  const check = args[0] === '--check';
  const loaded = loadedBy(check ? args[1] : args[0]);
  // No load at all means the recording is broken, not that no test loads a schema: the other run would prove nothing.
  if (loaded.length === 0) {
    process.stderr.write(`fusionpbx-schema-tests: no FusionPBX schema load recorded in ${(check ? args[1] : args[0]) ?? '(no file named)'}\n`);
    return 1;
  }
  if (!check) {
    process.stdout.write(loaded.map((file) => `${file}\n`).join(''));
    return 0;
  }
  const again = new Set(loadedBy(args[2]));
  const missing = loaded.filter((file) => !again.has(file));
  for (const file of missing)
    process.stderr.write(`fusionpbx-schema-tests: ${path.relative(ROOT, file)} loaded a FusionPBX schema in the first run, none in ${args[2] ?? 'the other'}\n`);
  return missing.length > 0 ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { loadedBy };
