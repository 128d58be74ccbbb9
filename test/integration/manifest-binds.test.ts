import {randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DockerAgent} from '../../src/agent/docker-agent.js'
import {type SupervisedHost, superviseHost} from '../../src/agent/supervised-host.js'
import {createLogger} from '../../src/core/log.js'
import type {ContainerSpec, Host} from '../../src/core/types.js'
import {connectEngine, execIn} from '../../src/docker/engine.js'
import {parseManifest} from '../../src/manifest/index.js'
import {toSpecs} from '../../src/manifest/specs.js'
import {docker, removeInstallationNetwork, removeLabelled} from '../helpers/docker.js'
import {TEST_RUN} from '../helpers/system.js'

const NAME = `b${TEST_RUN}${randomBytes(2).toString('hex')}`
const host = {id: 'local', bindAddress: '127.0.0.1', portMin: 43500, portMax: 43549} as Host

describe('a manifest with bind_volumes and a one-shot job, on a real engine', () => {
  const installation = randomBytes(6).toString('hex')
  const log = createLogger(process.env.DBROKER_TEST_LOG ? 'debug' : 'silent')
  let supervised: SupervisedHost
  let dir: string
  let specs: ContainerSpec[] = []

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dbroker-binds-'))
    supervised = superviseHost(new DockerAgent(connectEngine(), {installation}), log)
    supervised.watch(installation)
  })
  afterAll(async () => {
    for (const spec of specs) await supervised?.agent.remove(spec.instanceId).catch(() => undefined)
    await supervised?.stop()
    await removeLabelled(
      specs.map((s) => s.instanceId),
      installation,
    )
    await removeInstallationNetwork(installation)
    rmSync(dir, {recursive: true, force: true})
  })

  it('missing host directories are made as docker -v makes them; the app starts only once the job ended 0', async () => {
    const out = path.join(dir, 'not', 'there', 'out')
    const readOnly = path.join(dir, 'ro')
    const manifest = [
      `name: ${NAME}`,
      'hosts:',
      '  - name: local',
      '    containers:',
      '      - name: job',
      '        image: debian:bookworm-slim',
      // Runs past the 0.5 s that make a service ready: a job is done only once it ended.
      "        command: [sh, -c, 'sleep 1.5; echo migrated > /out/job']",
      '        restart: "no"',
      `        bind_volumes: ["${out}:/out"]`,
      '      - name: app',
      '        image: debian:bookworm-slim',
      `        command: [sh, -c, "cat /out/job > /out/app-saw; trap 'exit 0' TERM; while :; do sleep 0.1; done"]`,
      '        depends_on: [job]',
      `        bind_volumes: ["${out}:/out", "${readOnly}:/ro:ro"]`,
    ].join('\n')
    specs = (
      await toSpecs(parseManifest(manifest, 'binds.yml'), {hosts: new Map([['local', host]]), allocate: async () => []})
    ).hosts.local
    expect(existsSync(out)).toBe(false)
    supervised.loop.want({specs, asOf: supervised.agent.currentGeneration()})
    await supervised.loop.settled()

    const [job, app] = specs
    const jobInfo = await docker.getContainer(job.name).inspect()
    const appInfo = await docker.getContainer(app.name).inspect()
    expect(jobInfo.State).toMatchObject({Running: false, ExitCode: 0})
    expect(appInfo.State.Running).toBe(true)
    expect(Date.parse(appInfo.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(jobInfo.State.FinishedAt))
    // The directories the engine made, and what the containers wrote there, seen from the host.
    expect(statSync(out).isDirectory()).toBe(true)
    expect(statSync(readOnly).isDirectory()).toBe(true)
    expect(readFileSync(path.join(out, 'job'), 'utf8')).toBe('migrated\n')
    expect(readFileSync(path.join(out, 'app-saw'), 'utf8')).toBe('migrated\n')
    // ":ro" binds read-only.
    const write = await execIn(docker, app.name, ['sh', '-c', 'echo x > /ro/x'])
    expect(write.exitCode).not.toBe(0)
    expect(existsSync(path.join(readOnly, 'x'))).toBe(false)
  })
})
