/**
 * How the Docker tests share the one engine: most files run side by side (each on host ports of its own, which
 * test/unit/test-ports.test.ts keeps apart); these run one at a time after them, because they hold what one
 * machine has once (network namespaces with fixed subnets, engines of their own, loop devices, every container's
 * ports) or time what a loaded machine would slow down (supervision windows, a terminal's frames).
 */
export const DOCKER_ALONE = [
  'test/integration/multihost.test.ts',
  'test/integration/partitions.test.ts',
  'test/integration/managed-engine.test.ts',
  'test/integration/disk-host-wipe.test.ts',
  'test/integration/disks.test.ts',
  'test/integration/instance-disks.test.ts',
  'test/integration/supervision.test.ts',
  'test/integration/supervision-failing.test.ts',
  'test/e2e/cli-top-tmux.test.ts',
]

export const DOCKER_TESTS = ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/images/**/*.test.ts']

/** Docker test files side by side: two cores run three well, since most of a test is waiting for containers. */
export const DOCKER_WORKERS = 3
