import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'

import {RUN} from './cli.js'
import {docker, labelled, removeLabelled} from './docker.js'

/** The Docker tests need an engine and the reference images; say how to get them instead of failing obscurely. */
export async function setup(): Promise<void> {
  // The workers inherit it: every testId() of this run starts with these digits.
  process.env.DBROKER_TEST_RUN = randomBytes(2).toString('hex')
  try {
    await docker.ping()
  } catch {
    throw new Error('no Docker engine answers at /var/run/docker.sock: run `sudo scripts/docker-engine.sh` first')
  }
  for (const image of [
    'dbroker/redis:7',
    'dbroker/postgresql:15',
    'dbroker/mariadb:10.11',
    'dbroker/log-collector:1',
  ]) {
    try {
      await docker.getImage(image).inspect()
    } catch {
      throw new Error(`image ${image} is missing: run \`scripts/images.sh\` first`)
    }
  }
  if (!existsSync(RUN.replace('bin/run.js', 'dist/commands/up.js')))
    throw new Error('the CLI is not built: run `npm run build` (npm test does)')
  const {containers} = await labelled()
  if (containers.length > 0)
    console.warn(`note: ${containers.length} dbroker containers exist before the tests; the tests leave them alone`)
}

export async function teardown(): Promise<void> {
  // Every test cleans up after itself; this only catches what a crashed test file left.
  const {containers} = await labelled()
  // Only this run's (t-<kind>-<run><6 hex>): another checkout testing on the same engine keeps its containers.
  const mine = new RegExp(`^t-[a-z]+-${process.env.DBROKER_TEST_RUN}[0-9a-f]{6}$`)
  const leftovers = containers.filter((c) => mine.test(c.Labels['dbroker.instance'] ?? ''))
  await removeLabelled([...new Set(leftovers.map((c) => c.Labels['dbroker.instance']))])
}
