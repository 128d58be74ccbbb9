import {afterAll, describe, expect, it} from 'vitest'

import {connectEngine, ensureImage, imageExists} from '../../src/docker/engine.js'
import {testId} from '../helpers/system.js'

// A manifest's `dockerfile:` reaches the agent as {context: '', inline}; building it must not need a context.
describe('an inline Dockerfile', () => {
  const engine = connectEngine()
  const image = `dbroker-deploy/${testId('inline')}:test`
  afterAll(async () => {
    await engine
      .getImage(image)
      .remove({force: true})
      .catch(() => undefined)
  })

  it('is built from its text alone, with the label it sets', async () => {
    const how = await ensureImage(engine, image, {context: '', inline: 'FROM dbroker/redis:7\nLABEL made.by=inline\n'})
    expect(how).toBe('built')
    expect(await imageExists(engine, image)).toBe(true)
    expect((await engine.getImage(image).inspect()).Config.Labels?.['made.by']).toBe('inline')
  })
})
