import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

/** The default catalog with a loop disk on redis's and postgres's small plans (sizes given), build paths made absolute. */
export function diskCatalog(file: string, sizes: {redis: string; postgres: string}): void {
  const images = path.resolve('images')
  const text = readFileSync(path.join(images, 'catalog.yml'), 'utf8')
    .replace(/build: (redis|postgresql|mariadb)\b/g, (_, name: string) => `build: ${path.join(images, name)}`)
    .replace('volumes: [/data]\n', `volumes: [/data]\n          disk: {size: ${sizes.redis}}\n`)
    .replace(
      'volumes: [/var/lib/postgresql/data]\n',
      `volumes: [/var/lib/postgresql/data]\n          disk: {size: ${sizes.postgres}}\n`,
    )
  if (!text.includes(`disk: {size: ${sizes.redis}}`))
    throw new Error('the catalog changed: no redis volume to put a disk on')
  writeFileSync(file, text)
}

/** Mount points and loop devices under dir, from the kernel (not from the code under test). */
export function diskLeftovers(dir: string): {mounts: string[]; loops: string[]} {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((target) => target.startsWith(`${dir}/`))
  const listed = JSON.parse(
    execFileSync('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], {encoding: 'utf8'}) ||
      '{"loopdevices":[]}',
  ) as {loopdevices: {name: string; 'back-file': string | null}[]}
  const loops = listed.loopdevices.filter((d) => (d['back-file'] ?? '').startsWith(`${dir}/`)).map((d) => d.name)
  return {mounts, loops}
}

/** After a test, also a failed one: every mount and loop device under dir goes (the files go with the dir). */
export function releaseDisks(dir: string): void {
  if (!existsSync(dir)) return
  const {mounts, loops} = diskLeftovers(dir)
  for (const target of mounts.reverse()) spawnSync('umount', ['-l', target])
  for (const device of loops) spawnSync('losetup', ['-d', device])
}

/** A command in a running container as the given user; its output, or what failed. */
export function inContainer(name: string, user: string, script: string): {status: number | null; output: string} {
  const run = spawnSync('docker', ['exec', '-u', user, name, 'sh', '-c', script], {encoding: 'utf8', timeout: 120_000})
  return {status: run.status, output: `${run.stdout}${run.stderr}`.trim()}
}
