// ESLint: the recommended rules of ESLint and typescript-eslint, and two that need types, because a
// forgotten await on a query is this code base's likeliest silent bug. Formatting is Prettier's.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // The deliberately failing test exists only while CI proves that npm test fails (alongside this lint).
  { ignores: ['node_modules/', 'generated/', 'dist/', '.artstore/', 'test/fixtures/', 'prisma/', 'test/unit/ci-deliberate-failure.test.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      // Control characters are exactly what some patterns look for (file names, report lines).
      'no-control-regex': 'off',
      // `_` marks what a destructuring or a callback deliberately leaves unused.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  // The command line is built on the library's entry point alone (src/index.ts), as any other caller would be.
  ...[
    ['src/cli/*.ts', '^\\.\\./(?!index\\.ts$)'],
    ['src/cli/commands/*.ts', '^\\.\\./\\.\\./(?!index\\.ts$)'],
  ].map(([files, regex]) => ({
    files: [files],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex, message: 'the CLI imports the library from src/index.ts only: export what it needs there' }] }],
    },
  })),
  // A pg client nobody listens to crashes the process when the server ends its connection: src/ makes
  // its clients with quietClient or withClientOf (src/db/pg-config.ts), which listen.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/db/pg-config.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.object.name='pg'][callee.property.name='Client']",
          message: 'make the client with quietClient or withClientOf (src/db/pg-config.ts), which listen for its errors',
        },
      ],
    },
  },
  { files: ['**/*.mjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
)
