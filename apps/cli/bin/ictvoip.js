#!/usr/bin/env node
// The CLI is TypeScript run through tsx, like the api and worker processes.
require('tsx/cjs');
require('../src/main.ts');
