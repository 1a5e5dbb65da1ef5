// `npm run lint`: typescript-eslint, type-aware. Promises nobody awaits or catches are errors
// (no-floating-promises, no-misused-promises); layout is Prettier's job (`npm run format`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const tests = ['**/test/**/*.ts', 'apps/worker/chaos/**/*.ts', 'bench/**/*.ts', 'packages/*/bench/**/*.ts'];

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', 'coverage/**', '.data/**', '.turbo/**', 'bench/results/**', 'bench/profiles/**', 'apps/whmcs-module/modules/**', '**/*.d.ts'],
  },
  { linterOptions: { reportUnusedDisableDirectives: 'off' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      // One program over every workspace (check-types' own), not one per workspace tsconfig (projectService):
      // each file's types are computed once (CPU about half, memory 1.3 GB instead of 3 GB).
      parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Validators match control characters on purpose; `let x = fallback; try { x = ... }` is house style.
      'no-control-regex': 'off',
      'no-useless-assignment': 'off',
    },
  },
  {
    // Tests, chaos and benchmarks: fuzzers feed `any` on purpose; unused imports are reported, not fatal.
    files: tests,
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['warn', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // Plain Node scripts and configs (CommonJS).
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        exports: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        __filename: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['**/*.mjs'], languageOptions: { sourceType: 'module' } },
);
