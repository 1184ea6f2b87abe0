// How the two executables (artstore-db, schema-engine) find their code: the built bundle in dist/
// while none of the files it was built from has changed since, else the TypeScript sources through
// tsx (a developer who edited src/ and has not run `npm run build` yet gets the edit, only slower).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const DIST = 'dist'
export const BUILD_INFO = 'build.json'

/** The newest modification time of `files` (relative to the project root); Infinity when one is missing. */
export function newestMtime(files) {
  let newest = 0
  for (const f of files) {
    try {
      newest = Math.max(newest, fs.statSync(path.join(projectRoot, f)).mtimeMs)
    } catch {
      return Infinity
    }
  }
  return newest
}

/**
 * True when dist/ was built from the files as they are now. A copy installed as a package (under
 * node_modules) is taken as built: npm gives each of its files the time of the install, later than
 * the build, and nobody edits an installed package.
 */
export function builtIsFresh() {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(projectRoot, DIST, BUILD_INFO), 'utf8'))
    if (projectRoot.split(path.sep).includes('node_modules')) return true
    return info.sourcesMtimeMs >= newestMtime(info.sources)
  } catch {
    return false
  }
}

/**
 * Imports one executable's module: `dist/<name>.js` when the build is fresh, else `source` (a path
 * under src/) through tsx. ARTSTORE_FROM_SOURCE=1 always takes the sources.
 */
export async function importEntry(name, source) {
  // Node 21 and later have a global navigator; on Node 20 pg, not finding one, probes the runtime by
  // constructing a fetch Response, which loads undici: a third of the start-up of a database command.
  globalThis.navigator ??= { userAgent: `Node.js/${process.versions.node.split('.')[0]}` }
  if (process.env.ARTSTORE_FROM_SOURCE !== '1' && builtIsFresh()) {
    return import(pathToFileURL(path.join(projectRoot, DIST, `${name}.js`)).href)
  }
  const { register } = await import('tsx/esm/api')
  register()
  return import(pathToFileURL(path.join(projectRoot, source)).href)
}
