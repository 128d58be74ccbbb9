import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, describe, expect, it} from 'vitest'

import {loadManifest, ManifestError, parseManifest, parsePort, splitWords} from '../../src/manifest/index.js'

const dir = mkdtempSync(path.join(tmpdir(), 'dbroker-manifest-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const example = fileURLToPath(new URL('../../examples/deployment.yml', import.meta.url))

/** The error parsing `text` raises, as "line N: path: message" lines without the file name. */
function problems(text: string): string[] {
  try {
    parseManifest(text, 'manifest.yml')
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError)
    const message = (error as ManifestError).message
    for (const line of message.split('\n')) expect(line).toMatch(/^manifest\.yml: /)
    return message.split('\n').map((l) => l.replace(/^manifest\.yml: /, ''))
  }
  throw new Error('the manifest loaded without an error')
}

const oneHost = (containers: string) => `name: d\nhosts:\n  - name: h1\n    containers:\n${containers}`

describe('manifest loader', () => {
  it('loads the example: three containers on h1 with every kind of setting parsed', () => {
    const deployment = loadManifest(example)
    expect(deployment.name).toBe('shop')
    const [redis, app, web] = deployment.hosts[0].containers
    expect(redis).toMatchObject({
      name: 'redis',
      image: 'dbroker/redis:7',
      command: ['--dir', '/data', '--appendonly', 'yes', '--protected-mode', 'no'],
      entrypoint: ['redis-server'],
      ports: [{container: 6379, host: 6379, hostIp: '127.0.0.1', protocol: 'tcp'}],
      disk: {size: 1024 ** 3, driver: 'loop', path: '/data'},
      restart: {policy: 'always'},
      memory: 256 * 1024 ** 2,
      readiness: {probe: 'tcp', send: 'PING\r\n', expect: 'PONG', timeout: 30_000},
      supervision: {max_restarts: 5, window: 120_000},
    })
    expect(app.image).toMatch(/^dbroker-deploy\/shop-app:[0-9a-f]{12}$/)
    expect(app.build).toEqual({context: '', inline: expect.stringContaining('FROM dbroker/redis:7')})
    expect(app).toMatchObject({
      env: {REDIS_HOST: 'redis', WORKERS: '4'},
      depends_on: ['redis'],
      restart: {policy: 'on-failure', retries: 3},
      cpus: 0.5,
    })
    expect(web).toMatchObject({
      ports: [{container: 8080, protocol: 'tcp'}],
      bind_volumes: [{source: '/srv/shop/static', path: '/static', readOnly: true}],
    })
    expect(web.ports[0].host).toBeUndefined()
    expect(deployment.lineOf(['hosts', 0, 'containers', 2, 'depends_on'])).toBe(31)
  })

  it('reports a YAML syntax error and a duplicate key with their lines', () => {
    expect(problems('name: d\nhosts: [unclosed\n')).toEqual([expect.stringMatching(/^line \d+: \(document\): /)])
    expect(problems('name: d\nname: e\nhosts: []\n')).toEqual([
      expect.stringMatching(/^line 2: \(document\): Map keys must be unique/),
    ])
  })

  it('refuses unknown keys, at their own line', () => {
    const text = oneHost('      - name: a\n        image: x\n        bind_ports: ["80:80"]\n')
    expect(problems(text)).toEqual(['line 7: hosts[0].containers[0].bind_ports: Unrecognized key: "bind_ports"'])
    expect(problems('name: shop-\nhosts:\n  - name: h1\n    containers: [{name: a, image: x}]\n')).toEqual([
      'line 1: name: use lowercase letters, digits and "-" inside (at most 63)',
    ])
    expect(problems('name: d\nreplicas: 2\nhosts:\n  - name: h1\n    containers: [{name: a, image: x}]\n')).toEqual([
      'line 2: replicas: Unrecognized key: "replicas"',
    ])
  })

  it('reads ports the way docker run -p does and names the bad one', () => {
    expect(parsePort('6379')).toEqual({container: 6379, protocol: 'tcp'})
    expect(parsePort('16379:6379/udp')).toEqual({container: 6379, host: 16379, protocol: 'udp'})
    expect(parsePort('[::1]:80:8080')).toEqual({container: 8080, host: 80, hostIp: '::1', protocol: 'tcp'})
    expect(parsePort('127.0.0.1::6379')).toEqual({container: 6379, hostIp: '127.0.0.1', protocol: 'tcp'})
    expect(parsePort('999.1.1.1:80:80')).toMatch(/not an IP address/)
    expect(parsePort('70000:80')).toMatch(/not between 1 and 65535/)
    const text = oneHost(
      '      - name: a\n        image: x\n        ports:\n          - "6379:6379"\n          - "6379:6379:6379"\n',
    )
    expect(problems(text)).toEqual([
      expect.stringMatching(/^line 9: hosts\[0\]\.containers\[0\]\.ports\[1\]: "6379:6379:6379" is not a port/),
    ])
  })

  it('checks paths, restart policies, sizes and commands', () => {
    const text = oneHost(
      [
        '      - name: a',
        '        image: x',
        '        bind_volumes: ["srv/x:/data", "/srv/y:/y:rw", "/srv/z:/z:rx"]',
        '        volumes: [data]',
        '        restart: sometimes',
        '        memory: lots',
        '        command: "echo \'unclosed"',
        '',
      ].join('\n'),
    )
    expect(problems(text)).toEqual([
      'line 7: hosts[0].containers[0].bind_volumes[0]: host path "srv/x" must be absolute',
      'line 7: hosts[0].containers[0].bind_volumes[2]: "/srv/z:/z:rx" is not HOST_PATH:CONTAINER_PATH[:ro]',
      'line 8: hosts[0].containers[0].volumes[0]: must be an absolute path in the container',
      'line 9: hosts[0].containers[0].restart: "sometimes" is not a restart policy: use always, unless-stopped, on-failure[:N] or no',
      'line 10: hosts[0].containers[0].memory: "lots" is not a size (e.g. 256m, 1g)',
      'line 11: hosts[0].containers[0].command: has an unclosed quote',
    ])
    expect(splitWords(`sh -c "echo \\"hi\\" 'there'" x\\ y ''`)).toEqual(['sh', '-c', `echo "hi" 'there'`, 'x y', ''])
  })

  it('refuses two hosts of one name, two containers of one name on a host, and a dependency on no container', () => {
    const text = [
      'name: d',
      'hosts:',
      '  - name: h1',
      '    containers:',
      '      - {name: a, image: x}',
      '      - {name: a, image: y}',
      '      - {name: b, image: x, depends_on: [a, c]}',
      '  - name: h1',
      '    containers: [{name: z, image: x}]',
      '',
    ].join('\n')
    expect(problems(text)).toEqual([
      'line 6: hosts[0].containers[1].name: container "a" is already on host h1 at containers[0]',
      'line 7: hosts[0].containers[2].depends_on[1]: "c" is not a container on host h1',
      'line 8: hosts[1].name: host "h1" is already listed at hosts[0]',
    ])
  })

  it('names a dependency cycle, including one of a container on itself', () => {
    const cycle = oneHost(
      [
        '      - {name: db, image: x}',
        '      - name: a',
        '        image: x',
        '        depends_on: [db, b]',
        '      - {name: b, image: x, depends_on: [c]}',
        '      - {name: c, image: x, depends_on: [a]}',
        '',
      ].join('\n'),
    )
    expect(problems(cycle)).toEqual(['line 8: hosts[0].containers[1].depends_on: dependency cycle a -> b -> c -> a'])
    expect(problems(oneHost('      - {name: a, image: x, depends_on: [a]}\n'))).toEqual([
      'line 5: hosts[0].containers[0].depends_on: dependency cycle a -> a',
    ])
  })

  it('refuses one fixed host port twice on a host, but not on two hosts or from the range', () => {
    const text = [
      'name: d',
      'hosts:',
      '  - name: h1',
      '    containers:',
      '      - {name: a, image: x, ports: ["8080:80", "9000"]}',
      '      - {name: b, image: x, ports: ["127.0.0.1::9000", "127.0.0.1:8080:81"]}',
      '      - {name: c, image: x, ports: ["8080:80/udp", "53:53", "54:53"]}',
      '  - name: h2',
      '    containers: [{name: a, image: x, ports: ["8080:80"]}]',
      '',
    ].join('\n')
    expect(problems(text)).toEqual([
      'line 6: hosts[0].containers[1].ports[1]: host port 8080/tcp is already taken on h1 by a',
      'line 7: hosts[0].containers[2].ports[2]: container port 53/tcp is published twice',
    ])
  })

  it('binds all ports of a container to one address, since a spec has one', () => {
    const text = oneHost('      - {name: a, image: x, ports: ["127.0.0.1:6379:6379", "8080"]}\n')
    expect(problems(text)).toEqual([
      "line 5: hosts[0].containers[0].ports[1]: the ports of a container bind one address: the host's here, 127.0.0.1 for ports[0]",
    ])
  })

  it('wants exactly one of image, dockerfile and build', () => {
    const text = oneHost(
      [
        '      - {name: a, image: x, dockerfile: "FROM x"}',
        '      - {name: b, command: ["true"]}',
        '      - {name: c, dockerfile: "FROM x", build: ctx}',
        '',
      ].join('\n'),
    )
    expect(problems(text)).toEqual([
      'line 5: hosts[0].containers[0].dockerfile: give one of image, dockerfile or build, not image and dockerfile',
      'line 6: hosts[0].containers[1]: needs one of image, dockerfile or build',
      'line 7: hosts[0].containers[2].build: give one of image, dockerfile or build, not dockerfile and build',
    ])
  })

  it('refuses two mounts at one path and a tcp probe on a port the container does not publish', () => {
    const text = oneHost(
      [
        '      - name: a',
        '        image: x',
        '        volumes: [/data/]',
        '        disk: {size: 1G, path: /data}',
        '        bind_volumes: ["/srv/a:/data"]',
        '        ports: ["6379"]',
        '        readiness: {probe: tcp, port: 6380}',
        '      - {name: b, image: x, readiness: {probe: tcp}}',
        '',
      ].join('\n'),
    )
    expect(problems(text)).toEqual([
      'line 8: hosts[0].containers[0].disk.path: /data is already mounted by volumes[0]',
      'line 9: hosts[0].containers[0].bind_volumes[0]: /data is already mounted by volumes[0]',
      "line 11: hosts[0].containers[0].readiness.port: port 6380 is not one of the container's tcp ports",
      'line 12: hosts[0].containers[1].readiness: a tcp probe needs a port: give readiness.port or publish one',
    ])
  })

  it("resolves a build context against the manifest file and tags the image by the context's content", () => {
    mkdirSync(path.join(dir, 'ctx'), {recursive: true})
    writeFileSync(path.join(dir, 'ctx', 'Dockerfile'), 'FROM scratch\n')
    const file = path.join(dir, 'manifest.yml')
    writeFileSync(file, oneHost('      - {name: a, build: {context: ctx, args: {V: 1}}}\n'))
    const first = loadManifest(file).hosts[0].containers[0]
    expect(first.build).toEqual({context: path.join(dir, 'ctx'), args: {V: '1'}})
    expect(loadManifest(file).hosts[0].containers[0].image).toBe(first.image)
    writeFileSync(path.join(dir, 'ctx', 'Dockerfile'), 'FROM scratch\nCOPY . /\n')
    expect(loadManifest(file).hosts[0].containers[0].image).not.toBe(first.image)

    writeFileSync(file, oneHost('      - {name: a, build: missing}\n'))
    expect(() => loadManifest(file)).toThrow(
      `${file}: line 5: hosts[0].containers[0].build: build context ${path.join(dir, 'missing')} is not a directory`,
    )
  })

  it('says which manifest it cannot read', () => {
    expect(() => loadManifest(path.join(dir, 'nope.yml'))).toThrow(
      `cannot read manifest ${path.join(dir, 'nope.yml')}: ENOENT`,
    )
  })
})
