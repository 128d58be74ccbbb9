import {defineConfig} from 'vitest/config'

import {DOCKER_ALONE, DOCKER_TESTS, DOCKER_WORKERS} from './test/docker-groups.js'

const docker = {
  testTimeout: 180_000,
  hookTimeout: 300_000,
  globalSetup: ['test/helpers/global-setup.ts'],
}

// First the unit and UI tests and most Docker files side by side; then, one at a time, the Docker files that hold
// what the machine has once (test/docker-groups.ts).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/ui/**/*.test.{ts,tsx}'],
          testTimeout: 10_000,
          maxWorkers: DOCKER_WORKERS,
          sequence: {groupOrder: 0},
        },
      },
      {
        test: {
          name: 'docker',
          include: DOCKER_TESTS,
          exclude: DOCKER_ALONE,
          maxWorkers: DOCKER_WORKERS,
          sequence: {groupOrder: 0},
          ...docker,
        },
      },
      {
        test: {
          name: 'docker-alone',
          include: DOCKER_ALONE,
          fileParallelism: false,
          sequence: {groupOrder: 1},
          ...docker,
        },
      },
    ],
  },
})
