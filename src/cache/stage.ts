/**
 * The streaming half of a rebuild: walk the folder, read and validate each attr.json, and COPY one
 * line per file into a temporary stage table, good or not. Nothing is kept in memory per file but
 * the report of a skipped one: duplicates and --prune are resolved later in SQL, from the stage.
 */
import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { readAttr, type AttrDocument, type SkipCode } from './attr.ts'
import { CopyWriter, copyLine } from './copy.ts'
import type { Mapped } from './map.ts'
import { walkAttrFiles, type WalkEntry } from './walk.ts'

/** The temporary table (one per session, dropped at its end) that holds every file of one run. */
export const STAGE = 'artstore_cache_stage'

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

async function createStage(c: pg.ClientBase, spec: StageSpec): Promise<void> {
  const cols = spec.columns.map(([n, t]) => `${n} ${t}`).join(', ')
  // The stage is read several times (duplicates, conflicts, prune, upsert): keep it in memory when
  // it fits. PostgreSQL accepts this only before the session's first temporary table, hence the catch.
  await c.query(`set temp_buffers = '256MB'`).catch(() => undefined)
  await c.query(`drop table if exists pg_temp.${STAGE}`)
  // seq numbers the rows for batched upserts; good = false rows only claim a name and a file_id.
  await c.query(`create temp table ${STAGE} (seq bigserial, path text not null, name text not null, claim uuid, good boolean not null, ${cols})`)
}

/** Reads, validates and maps one file into its stage line (path, name, claim, good, columns), noting why it was skipped. */
function lineMaker(spec: StageSpec, result: Pick<StageResult, 'skipped' | 'trimmed'>): (e: Extract<WalkEntry, { kind: 'file' }>) => string {
  const empty = spec.columns.map(() => null)
  return (e) => {
    const check = readAttr(e)
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
 * Hands `sink` the stage line of every attr.json under `root`, in walk order (listing streamed, nothing
 * kept per file), counting the files and reporting progress; unreadable folders and skipped files go
 * into `result`. The sink is awaited only when it returns a promise: this runs once per file.
 */
export async function forEachStageLine(
  root: string,
  spec: StageSpec,
  result: Pick<StageResult, 'found' | 'skipped' | 'trimmed' | 'folderErrors'>,
  onProgress: ((p: Progress) => void) | undefined,
  sink: (line: string) => void | Promise<void>,
): Promise<void> {
  const one = lineMaker(spec, result)
  for await (const e of walkAttrFiles(root)) {
    if (e.kind === 'folder-error') {
      result.folderErrors++
      result.skipped.push({ path: e.rel, code: 'folder-unreadable', reason: e.reason })
      continue
    }
    const line = one(e)
    if (++result.found % PROGRESS_EVERY === 0) onProgress?.({ phase: 'read', files: result.found, skipped: result.skipped.length })
    const waiting = sink(line)
    if (waiting) await waiting
  }
}

/**
 * Stages every attr.json under `root` into the session's stage table and marks duplicated file_ids
 * (every file that claims a file_id another file claims too is skipped: the cache keeps neither).
 */
export async function stageFiles(c: pg.ClientBase, root: string, spec: StageSpec, onProgress?: (p: Progress) => void): Promise<StageResult> {
  await createStage(c, spec)
  const result: StageResult = { found: 0, good: 0, skipped: [], trimmed: [], folderErrors: 0 }
  const stream = c.query(copyFrom(`copy ${STAGE} (path, name, claim, good, ${spec.columns.map(([n]) => n).join(', ')}) from stdin`))
  const writer = new CopyWriter(stream)

  try {
    // One loop: list (streamed), read, validate, map and queue; it waits only when COPY is behind.
    await forEachStageLine(root, spec, result, onProgress, (line) => writer.push(line))
    await writer.end()
  } catch (e) {
    stream.destroy()
    throw e
  }
  onProgress?.({ phase: 'resolve', files: result.found, skipped: result.skipped.length })
  // Temporary tables are never analysed automatically; the joins that follow need the statistics.
  await c.query(`analyze ${STAGE} (claim, good, name)`)
  await skipDuplicates(c, result)
  result.good = Number((await c.query(`select count(*) as n from ${STAGE} where good`)).rows[0].n)
  return result
}

/**
 * Marks the `eligible` staged rows whose claim another staged file makes too (good or not) and
 * reports them; returns the paths so marked.
 */
export async function skipDuplicates(c: pg.ClientBase, result: Pick<StageResult, 'skipped'>, eligible = 's.good'): Promise<{ path: string; claim: string }[]> {
  const { rows } = await c.query<{ path: string; claim: string; paths: string[] }>(
    `with dup as (select claim, array_agg(path order by path) as paths from ${STAGE} where claim is not null group by claim having count(*) > 1)
     update ${STAGE} s set good = false from dup where s.claim = dup.claim and ${eligible}
     returning s.path, s.claim::text as claim, dup.paths`,
  )
  for (const r of rows) {
    const others = r.paths.filter((p) => p !== r.path)
    result.skipped.push({ path: r.path, code: 'duplicate-file-id', reason: `file_id ${r.claim} is also claimed by ${others.join(', ')}: neither is cached` })
  }
  return rows
}

/** Marks staged rows as skipped by a query that returns (path, reason) of the rows it sets good = false. */
export async function skipWhere(c: pg.ClientBase, result: StageResult, code: SkipCode, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await c.query<{ path: string; reason: string }>(sql, params)
  for (const r of rows) result.skipped.push({ path: r.path, code, reason: r.reason })
  result.good -= rows.length
  return rows.length
}
