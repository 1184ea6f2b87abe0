/**
 * Streams the attr.json files of a storage element's folder, without ever listing the whole tree:
 * `<root>/YYYY/MM/DD/HH/<storage_filename>.attr.json` (local mode) and
 * `<root>/YYYY/MM/DD/HH/.attrs/<storage_filename>.attr.json` (S3 mode, attributes kept locally).
 */
import fs from 'node:fs'
import path from 'node:path'

export const ATTR_SUFFIX = '.attr.json'

/** One attr.json found, or a folder of the date tree that could not be listed. */
export type WalkEntry =
  | {
      kind: 'file'
      /** Path relative to the root, with `/` separators (what every report shows). */
      rel: string
      abs: string
      /** The hour folder the file belongs to, `YYYY/MM/DD/HH/`: what its storage_path must be. */
      folder: string
      /** The file name without `.attr.json`: the storage_filename it stands for. */
      name: string
      /** The root, links resolved: a file that is a link must point inside it. */
      root?: string
    }
  | { kind: 'folder-error'; rel: string; reason: string }

/** Folder names of the date levels under the root: year, month, day, hour. */
const LEVELS = [/^\d{4}$/, /^\d{2}$/, /^\d{2}$/, /^\d{2}$/]

const reasonOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message

/** `target` is `root` or inside it. */
export const insideRoot = (root: string, target: string) => {
  const r = path.relative(root, target)
  return r === '' || (!r.startsWith('..') && !path.isAbsolute(r))
}

/**
 * The date folders of one level, sorted. These lists are short (years, 12 months, 31 days, 24
 * hours), unlike the hour folders' file lists, which are streamed.
 */
async function dateFolders(dir: string, rel: string, level: number, root: string): Promise<{ names: string[]; outside: WalkEntry[] } | { error: WalkEntry }> {
  const names: string[] = []
  const outside: WalkEntry[] = []
  try {
    for await (const d of await fs.promises.opendir(dir)) {
      if (!LEVELS[level].test(d.name)) continue
      if (d.isDirectory()) names.push(d.name)
      // A symlinked date folder is followed while it stays inside the root; a dangling one is
      // reported, since files may live there.
      else if (d.isSymbolicLink()) {
        const target = await fs.promises.realpath(path.join(dir, d.name)).catch(() => undefined)
        if (target && !insideRoot(root, target))
          outside.push({ kind: 'folder-error', rel: `${rel}${d.name}`, reason: 'is a link out of the root: not followed' })
        else names.push(d.name)
      }
    }
  } catch (e) {
    return { error: { kind: 'folder-error', rel: rel || '.', reason: `folder could not be listed (${reasonOf(e)})` } }
  }
  return { names: names.sort(), outside }
}

async function* hourFiles(dir: string, folder: string, root: string, sub = ''): AsyncGenerator<WalkEntry> {
  let handle: fs.Dir
  try {
    handle = await fs.promises.opendir(path.join(dir, sub), { bufferSize: 256 })
  } catch (e) {
    yield { kind: 'folder-error', rel: `${folder}${sub}`, reason: `folder could not be listed (${reasonOf(e)})` }
    return
  }
  let attrsFolder = false
  try {
    for await (const d of handle) {
      if (!sub && d.name === '.attrs') {
        attrsFolder = d.isDirectory() || d.isSymbolicLink()
        continue
      }
      // Anything named *.attr.json counts, whatever its type: a file that exists but cannot be read
      // must still be seen (it is reported, and --prune keeps its row).
      if (!d.name.endsWith(ATTR_SUFFIX) || d.name === ATTR_SUFFIX) continue
      const rel = `${folder}${sub ? `${sub}/` : ''}${d.name}`
      yield { kind: 'file', rel, abs: path.join(dir, sub, d.name), folder, name: d.name.slice(0, -ATTR_SUFFIX.length), root }
    }
  } catch (e) {
    yield { kind: 'folder-error', rel: `${folder}${sub}`, reason: `folder could not be listed completely (${reasonOf(e)})` }
  }
  if (attrsFolder) yield* hourFiles(dir, folder, root, '.attrs')
}

async function* level(dir: string, rel: string, depth: number, root: string): AsyncGenerator<WalkEntry> {
  if (depth === LEVELS.length) {
    yield* hourFiles(dir, rel, root)
    return
  }
  const listed = await dateFolders(dir, rel, depth, root)
  if ('error' in listed) {
    yield listed.error
    return
  }
  yield* listed.outside
  for (const name of listed.names) yield* level(path.join(dir, name), `${rel}${name}/`, depth + 1, root)
}

/** Every attr.json under `root` (an existing folder), one at a time, date folders in order; never a link out of it. */
export async function* walkAttrFiles(root: string): AsyncGenerator<WalkEntry> {
  yield* level(root, '', 0, await fs.promises.realpath(root))
}
