/**
 * A local folder as a source of attr.json files: the storage element's base folder, with files next
 * to their data (local storage) or in the hour folders' `.attrs/` (S3 mode before the bucket held
 * them). Reads are plain system calls, in listing order (see readAttr).
 */
import fs from 'node:fs'
import path from 'node:path'
import { readAttr } from './attr.ts'
import { RootNotFolderError } from './errors.ts'
import { newStats, type AttrSource, type Listed, type ReadResult, type SourceEntry } from './source.ts'
import { ATTR_SUFFIX, walkAttrFiles, type WalkEntry } from './walk.ts'

type LocalEntry = Extract<WalkEntry, { kind: 'file' }>

export class LocalSource implements AttrSource {
  readonly concurrency = 1
  readonly stats = newStats()
  /** The absolute folder (what reports show). */
  readonly label: string
  constructor(
    /** The root as given (what errors name). */
    private readonly given: string,
  ) {
    this.label = path.resolve(given)
  }

  async open(): Promise<void> {
    let st: fs.Stats
    try {
      st = fs.statSync(this.label)
    } catch {
      throw new RootNotFolderError(this.given, 'does not exist')
    }
    if (!st.isDirectory()) throw new RootNotFolderError(this.given, 'is not a folder')
  }

  async *list(): AsyncGenerator<Listed> {
    for await (const e of walkAttrFiles(this.label)) {
      if (e.kind === 'file') this.stats.listed++
      yield e
    }
  }

  read(entry: SourceEntry): ReadResult {
    // A name that cannot be opened stays a file that exists but is unreadable (a dangling link is
    // one): it is reported, and --prune keeps its row.
    return readAttr(entry as LocalEntry)
  }

  async has(folder: string, name: string): Promise<boolean> {
    return [folder, `${folder}.attrs/`].some((dir) => fs.existsSync(path.join(this.label, dir, `${name}${ATTR_SUFFIX}`)))
  }

  async close(): Promise<void> {}
}
