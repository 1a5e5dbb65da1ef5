#!/usr/bin/env node
/**
 * `npm run build`: every workspace's src/**\/*.ts to CommonJS in its dist/ (same layout, so relative
 * lookups such as `path.resolve(__dirname, '../..')` mean the same from src/ and dist/). swc compiles
 * file by file (the code is written for isolatedModules); types are checked by `npm run check-types`.
 * Incremental: a file is compiled again only when its source is newer than its output (or this script
 * changed); outputs whose source is gone are removed. `--clean` removes every dist/ first.
 * Without @swc/core (a production install, `npm ci --omit=dev`) it keeps an existing dist/ as it is.
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const args = new Set(process.argv.slice(2));

const SWC_OPTIONS = {
  jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
  module: { type: 'commonjs' },
  sourceMaps: true,
  swcrc: false,
  configFile: false,
};

function workspaces() {
  return ['apps', 'packages']
    .flatMap((top) => fs.readdirSync(path.join(ROOT, top)).map((name) => path.join(ROOT, top, name)))
    .filter((dir) => fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'src')))
    .sort();
}

function walk(dir, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else out.push(full);
  }
  return out;
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

async function buildWorkspace(dir, swc, scriptTime) {
  const src = path.join(dir, 'src');
  const dist = path.join(dir, 'dist');
  if (args.has('--clean')) fs.rmSync(dist, { recursive: true, force: true });
  const wanted = new Set();
  let compiled = 0;
  for (const file of walk(src)) {
    const rel = path.relative(src, file);
    const isTs = rel.endsWith('.ts') && !rel.endsWith('.d.ts');
    const target = path.join(dist, isTs ? rel.replace(/\.ts$/, '.js') : rel);
    wanted.add(target);
    if (isTs) wanted.add(`${target}.map`);
    const targetTime = mtime(target);
    if (targetTime >= mtime(file) && targetTime >= scriptTime) continue;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (!isTs) {
      fs.copyFileSync(file, target);
      continue;
    }
    const output = await swc.transformFile(file, { ...SWC_OPTIONS, filename: file, outputPath: target, sourceFileName: path.relative(path.dirname(target), file) });
    fs.writeFileSync(target, `${output.code}\n//# sourceMappingURL=${path.basename(target)}.map\n`);
    if (output.map) fs.writeFileSync(`${target}.map`, output.map);
    compiled += 1;
  }
  let removed = 0;
  if (fs.existsSync(dist)) {
    for (const file of walk(dist)) {
      if (!wanted.has(file)) {
        fs.rmSync(file);
        removed += 1;
      }
    }
  }
  return { compiled, removed, files: wanted.size };
}

async function main() {
  const dirs = workspaces();

  let swc;
  try {
    swc = require('@swc/core');
  } catch {
    if (dirs.every((dir) => fs.existsSync(path.join(dir, 'dist')))) {
      process.stdout.write('[build] @swc/core is not installed (production install): keeping the existing dist/\n');
      return;
    }
    throw new Error('@swc/core is not installed: run "npm ci" (with dev dependencies), then "npm run build"');
  }
  const started = Date.now();
  const scriptTime = mtime(__filename);
  let compiled = 0;
  let removed = 0;
  for (const dir of dirs) {
    const result = await buildWorkspace(dir, swc, scriptTime);
    compiled += result.compiled;
    removed += result.removed;
  }
  const extra = removed ? `, removed ${removed} stale output${removed === 1 ? '' : 's'}` : '';
  process.stdout.write(`[build] ${dirs.length} workspaces: ${compiled} file${compiled === 1 ? '' : 's'} compiled to dist/${extra} in ${Date.now() - started} ms\n`);
}

main().catch((error) => {
  process.stderr.write(`[build] ${error.stack ?? error}\n`);
  process.exit(1);
});
