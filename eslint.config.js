import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'bench/', 'images/']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'},
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-control-regex': 'off',
      // Prettier breaks long chains before `[`; that is no ASI hazard after a `)` (eslint-config-prettier turns it off too).
      'no-unexpected-multiline': 'off',
      // A variable a closure reads before its one assignment (a handle made after the API that uses it) stays `let`.
      'prefer-const': ['error', {ignoreReadBeforeAssign: true}],
      // Left as a warning: the few `any`s are kysely's dynamic tables and JSON from tests' own fixtures.
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
)
