/**
 * One rebuild of one cache table, shared by both modules: remember the rows --prune may delete, read
 * and judge every file, refuse what must be refused while nothing is written yet, write the rows in
 * chunks, prune in chunks, and let the module add its own last writes (one transaction of their own).
 * A dry run takes the same steps and counts instead of writing.
 */
import type pg from 'pg'
import { PruneEmptyRootError } from './errors.ts'
import { stageAndJudge, writeRows, type CacheTable, type PipelineRun } from './pipeline.ts'
import { countRows, pruneUnseen, rememberKeys, type PruneTarget } from './prune.ts'
import type { CacheRebuildResult, RowCounts } from './result.ts'
import type { StageSpec } from './stage.ts'

export type RebuildPart = Pick<CacheRebuildResult, 'files' | 'rows' | 'prune' | 'skipped' | 'trimmed' | 'config' | 'wal'>

export interface CacheWrite {
  spec: StageSpec
  target: CacheTable
  prune: PruneTarget
  /** The cache in PruneEmptyRootError, e.g. `file_metadata_cache (storage element se-01)`. */
  describe: string
  /** The module's own writes, after the rows and the prune (not in a dry run). */
  finish?: (part: RebuildPart) => Promise<void>
  /** Told, as chunks commit, how many rows the run has written so far (what a run stopped part way leaves). */
  written?: (rows: number) => void
}

/** Rebuilds one cache table from the attr.json files of `run.source`; the caller holds its cache lock. */
export async function writeCache(c: pg.ClientBase, run: PipelineRun & { prune: boolean }, w: CacheWrite): Promise<RebuildPart> {
  // The stage is read several times: keep it in memory when it fits. PostgreSQL accepts this only
  // before the session's first temporary table, and outside a transaction (set later, it would abort it).
  await c.query(`set temp_buffers = '256MB'`).catch(() => undefined)
  if (run.prune) await rememberKeys(c, w.prune)
  const staged = await stageAndJudge(c, w.spec, w.target, run)
  const prune = !run.prune ? 'off' : staged.folderErrors ? 'refused' : run.dryRun ? 'would' : 'done'
  if ((prune === 'would' || prune === 'done') && staged.found === 0) {
    const cached = await countRows(c, w.prune)
    if (cached > 0) throw new PruneEmptyRootError(run.root, w.describe, cached)
  }
  // Every refusal is behind: from here on the cache is written.
  const counts = await writeRows(c, w.target, run, staged, w.written)
  const pruned = prune === 'would' || prune === 'done' ? await pruneUnseen(c, w.prune, run.dryRun, run.bounds) : 0
  const rows: RowCounts = { ...counts, unchanged: staged.good - counts.inserted - counts.updated, pruned }
  const part: RebuildPart = {
    files: { found: staged.found, good: staged.good, skipped: staged.skipped.length },
    rows,
    prune,
    skipped: staged.skipped,
    trimmed: staged.trimmed,
  }
  if (!run.dryRun) await w.finish?.(part)
  return part
}
