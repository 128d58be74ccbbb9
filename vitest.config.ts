import {defineConfig} from 'vitest/config'

// Unit and UI tests run in parallel; integration and e2e share one Docker engine
// and its port range, so their files run one at a time.
export default defineConfig({
  test: {
    projects: [
      {test: {name: 'unit', include: ['test/unit/**/*.test.ts', 'test/ui/**/*.test.{ts,tsx}'], testTimeout: 10_000}},
      {
        test: {
          name: 'docker',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/images/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
})
