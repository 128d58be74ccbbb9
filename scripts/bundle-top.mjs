#!/usr/bin/env node
// `dbroker top`'s screen as one ESM bundle (dist/ui/top/bundle/run.js), made by `npm run build` after tsc.
// Why: imported from node_modules, Ink costs ~0.5 s of CPU before the first frame — its
// `import {throttle} from 'es-toolkit/compat'` alone loads 415 modules, and React's reconciler
// loads its development build unless NODE_ENV says production. Bundled, with NODE_ENV fixed to
// production, the same screen imports in ~0.06 s. The unbundled dist/ui/top stays for the
// tests and bench/top-screen.js; src/commands/top.ts loads the bundle and falls back to it.
import {rmSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {rolldown} from 'rolldown'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const out = path.join(root, 'dist/ui/top/bundle')
rmSync(out, {recursive: true, force: true})
const bundle = await rolldown({
  input: path.join(root, 'dist/ui/top/run.js'),
  platform: 'node',
  // Ink imports it only for React DevTools (DEV=true), and it is not installed.
  external: ['react-devtools-core'],
  transform: {define: {'process.env.NODE_ENV': '"production"'}},
  logLevel: 'warn',
})
await bundle.write({dir: out, format: 'esm', entryFileNames: '[name].js'})
await bundle.close()
