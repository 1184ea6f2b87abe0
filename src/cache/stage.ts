/**
 * The reading half of a rebuild: walk the folder, read and validate each attr.json, and make one COPY
 * line per file, good or not, for the pipeline (pipeline.ts) to ship. Nothing is kept in memory per
 * file but the report of a skipped one: duplicates and --prune are resolved later in SQL.
 */
import type { AttrCheck, AttrDocument, SkipCode } from './attr.ts'
import { copyLine } from './copy.ts'
import type { Mapped } from './map.ts'
import { readEntries, type AttrSource, type SourceEntry } from './source.ts'

/** A file (or folder) left out of the cache, and why. */
export interface SkippedFile {
  /** Relative to the root, `/`-separated. */
  path: string
  code: SkipCode
  reason: string
}

/** A file that went in, but not whole (query cache: tags cut to what the column holds). */
export interface TrimmedFile {
  path: string
  notes: string[]
}

/** What the stage knows about the module's cache rows. */
export interface StageSpec {
  /** Column definitions of the mapped row, in COPY order. */
  columns: readonly (readonly [name: string, type: string])[]
  map(doc: AttrDocument): Mapped
}

export type ProgressPhase = 'read' | 'resolve' | 'write' | 'done'
/** Progress of a rebuild: `files` read so far, `rows` written of `totalRows` in the write phase. */
export interface Progress {
  phase: ProgressPhase
  files: number
  skipped: number
  rows?: number
  totalRows?: number
  /** attr.json files listed so far (ahead of `files` when reads are in flight). */
  listed?: number
}

export interface StageResult {
  /** attr.json files found (good, skipped, duplicated). */
  found: number
  /** Files staged as good, duplicates removed. */
  good: number
  skipped: SkippedFile[]
  trimmed: TrimmedFile[]
  /** Folders of the date tree that could not be listed: --prune must not trust the walk then. */
  folderErrors: number
}

const PROGRESS_EVERY = 1000

/** Reads, validates and maps one file into its stage line (path, name, claim, good, columns), noting why it was skipped. */
function lineMaker(spec: StageSpec, result: Pick<StageResult, 'skipped' | 'trimmed'>): (e: SourceEntry, check: AttrCheck) => string {
  const empty = spec.columns.map(() => null)
  return (e, check) => {
    if (check.ok) {
      const mapped = spec.map(check.doc)
      if (mapped.ok) {
        if (mapped.notes.length) result.trimmed.push({ path: e.rel, notes: mapped.notes })
        return copyLine([e.rel, e.name, check.doc.file_id, true, ...mapped.values])
      }
      result.skipped.push({ path: e.rel, code: 'too-long', reason: mapped.reason })
      return copyLine([e.rel, e.name, check.doc.file_id, false, ...empty])
    }
    result.skipped.push({ path: e.rel, code: check.code, reason: check.reason })
    return copyLine([e.rel, e.name, check.claim ?? null, false, ...empty])
  }
}

/**
 * Hands `sink` the stage line of every attr.json of `source`, as it is read (listing streamed, nothing
 * kept per file), counting the files and reporting progress; unreadable folders and skipped files go
 * into `result`. The sink is awaited only when it returns a promise: this runs once per file.
 */
export async function forEachStageLine(
  source: AttrSource,
  spec: StageSpec,
  result: Pick<StageResult, 'found' | 'skipped' | 'trimmed' | 'folderErrors'>,
  onProgress: ((p: Progress) => void) | undefined,
  sink: (line: string) => void | Promise<void>,
): Promise<void> {
  const one = lineMaker(spec, result)
  for await (const e of readEntries(source)) {
    if (e.kind === 'folder-error') {
      result.folderErrors++
      result.skipped.push({ path: e.rel, code: 'folder-unreadable', reason: e.reason })
      continue
    }
    const line = one(e.entry, e.result)
    if (++result.found % PROGRESS_EVERY === 0) onProgress?.({ phase: 'read', files: result.found, skipped: result.skipped.length, listed: source.stats.listed })
    const waiting = sink(line)
    if (waiting) await waiting
  }
}
