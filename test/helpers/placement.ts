import {expect} from 'vitest'

import {OsbError} from '../../src/core/errors.js'
import type {Host} from '../../src/core/types.js'

/** The placement tests' clock: every host heartbeated at this instant unless told otherwise. */
export const NOW = 1_000_000

/** An alive, undrained host with ten ports and no limits; `extra` changes what a test is about. */
export const placementHost = (id: string, extra: Partial<Host> = {}): Host => ({
  id,
  serviceAddress: '10.0.0.1',
  bindAddress: '10.0.0.1',
  agentUrl: null,
  portMin: 41000,
  portMax: 41009,
  status: 'alive',
  drained: false,
  zone: null,
  labels: {},
  facts: null,
  lastHeartbeat: NOW,
  capacity: {maxContainers: null, memoryBytes: null},
  keepaliveMs: null,
  ...extra,
})

/** The OsbError a placement refuses with; fails the test when it places. */
export function refusal(run: () => unknown): OsbError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(OsbError)
    return error as OsbError
  }
  throw new Error('placement succeeded')
}
