// ESLint flat config: `npm run lint` (and so `npm test`) fails on any violation.
//
//   - the layer rules: api/routes/* and workflows/* may import only from an allow-list (see below);
//     test/lint/layers.test.ts proves that they bite
//   - the usual correctness rules: @eslint/js recommended, typescript-eslint recommendedTypeChecked
//     (type-aware: no-floating-promises, no-misused-promises, await-thenable, ... matter for
//     Temporal and express code), eqeqeq
//   - console/assets/*.js is browser code: linted with browser globals, without type information
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// ---- layer rules ---------------------------------------------------------------------------------
// Each layer has an allow-list of import sources, written as one regular expression that matches any
// import NOT on the list (no-restricted-imports reports what its patterns match). Relative paths are
// read from the layer's own folder (api/routes/x.ts, workflows/x.ts): a file in a deeper sub-folder
// gets false alarms, never a silent pass, since every allowed relative prefix stays inside the
// layer, api/, services/ or domain/. An import path with a `.` or `..` segment after its leading
// `../` chain (`./../../db/x`, `../domain/../db/x`) is never on the list.
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const NORMALIZED = String.raw`(?!.*/\.\.?(?:/|$))`; // no `.` or `..` segment from here on
const NODE_BUILTINS = String.raw`node:.+$|(?:${builtinModules.filter((m) => !m.startsWith('_')).map(escape).join('|')})$`;
const notOneOf = (...allowed) => `^(?!(?:${allowed.join('|')}))`;

const ROUTE_IMPORTS = notOneOf(
  String.raw`\./(?!\.)${NORMALIZED}`, // another route
  String.raw`\.\./(?!\.)${NORMALIZED}`, // api/*
  String.raw`\.\./\.\./(?:services|domain)/(?!\.)${NORMALIZED}`, // the command layer, the domain
  '(?:express|zod)$',
  NODE_BUILTINS,
);
const WORKFLOW_IMPORTS = notOneOf(
  '@temporalio/workflow$',
  String.raw`\./(?!\.)${NORMALIZED}`, // another workflow
  String.raw`\.\./domain/(?!\.)${NORMALIZED}`,
);

// `import('…')` and `require('…')` would go around no-restricted-imports; neither belongs in either
// layer (workflow code cannot load modules at run time at all; routes have no reason to).
const noDynamicImports = (layer) => [
  'error',
  { selector: 'ImportExpression', message: `No dynamic import() in ${layer}: it bypasses the layer rule.` },
  {
    selector: "CallExpression[callee.name='require']",
    message: `No require() in ${layer}: it bypasses the layer rule.`,
  },
];

const layers = [
  {
    name: 'keel/layers/routes',
    files: ['api/routes/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: ROUTE_IMPORTS,
              caseSensitive: true,
              message:
                'api/routes/* may import only api/*, services/* (the command layer), domain/*, express, zod and ' +
                'node built-ins: reach the database, Temporal and workflows through a service in services/.',
            },
          ],
        },
      ],
      'no-restricted-syntax': noDynamicImports('api/routes'),
    },
  },
  {
    name: 'keel/layers/workflows',
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: WORKFLOW_IMPORTS,
              caseSensitive: true,
              allowTypeImports: true,
              message:
                'workflow code runs in the Temporal sandbox: it may import values only from @temporalio/workflow, ' +
                "other workflows/* files and domain/*; anything else only with `import type`.",
            },
          ],
        },
      ],
      'no-restricted-syntax': noDynamicImports('workflows'),
    },
  },
];

// ---- the config ------------------------------------------------------------------------------------
export default defineConfig(
  {
    name: 'keel/ignores',
    ignores: ['node_modules/', 'generated/', '.tools/', '.data/', 'dist/', 'coverage/'],
  },
  {
    name: 'keel/options',
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  {
    name: 'keel/js',
    files: ['**/*.{js,cjs,mjs,ts}'],
    extends: [js.configs.recommended],
  },
  {
    name: 'keel/typescript',
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: globals.node,
    },
  },
  {
    name: 'keel/correctness',
    files: ['**/*.{js,cjs,mjs,ts}'],
    rules: {
      // `x != null` stays allowed: it is the idiom for "null or undefined".
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // Services log through pino (config/logger.ts); the few deliberate console calls in them say why.
      'no-console': 'error',
    },
  },
  {
    name: 'keel/typescript-tuning',
    files: ['**/*.ts'],
    rules: {
      // `_`-prefixed names are deliberately unused (omitting a key with a rest sibling, a positional
      // parameter an interface demands).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // Off: an async function without await is how this code meets a Promise-returning contract
      // (activity implementations, eventually() predicates, close()), and it turns a throw into a
      // rejection. The async bugs that matter are caught by no-floating-promises, no-misused-promises
      // and await-thenable, which stay on.
      '@typescript-eslint/require-await': 'off',
      // Passing on a reason typed `unknown` (an AbortSignal's reason, a caught error) is allowed, as
      // only-throw-error allows it by default; a reason of any other non-Error type is still an error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    name: 'keel/tests',
    // scripts/record-histories.ts drives the test stack (test/helpers/stack.ts) like a test does.
    files: ['test/**/*.ts', 'scripts/record-histories.ts'],
    rules: {
      // Off in tests only: supertest's response.body, JSON.parse and jest's expect.any() are `any`,
      // and asserting on them is what a test does; its expectations check the shape at run time.
      // Production code keeps all five.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Some tests print what they measured (achieved rates, a query plan) on purpose.
      'no-console': 'off',
    },
  },
  {
    name: 'keel/cli',
    files: ['scripts/**', 'bench/**'],
    rules: {
      // Command-line tools: the console is their user interface.
      'no-console': 'off',
    },
  },
  // Node scripts outside the TypeScript project (CommonJS or ESM): no type information.
  {
    name: 'keel/node-js',
    files: ['**/*.{js,cjs,mjs}'],
    ignores: ['console/assets/**'],
    languageOptions: { globals: globals.node },
  },
  {
    name: 'keel/node-cjs',
    files: ['**/*.{js,cjs}'],
    ignores: ['console/assets/**'],
    languageOptions: { sourceType: 'commonjs' },
  },
  // The operator console's browser scripts (served as-is, no bundler).
  {
    name: 'keel/console-assets',
    files: ['console/assets/**/*.js'],
    languageOptions: { sourceType: 'script', globals: globals.browser },
  },
  ...layers,
);
