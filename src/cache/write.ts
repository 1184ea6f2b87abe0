/**
 * One rebuild of one cache table, shared by both modules: in one transaction, remember the rows
 * --prune may delete, run the pipeline, prune, and let the module add its own last writes. A dry
 * run takes the same steps, counts instead of writing, and rolls the transaction back.
 */
import type pg from 'pg'
import { withTransaction } from '../db/lock.ts'
import { PruneEmptyRootError } from './errors.ts'
import { runPipeline, type CacheTable } from './pipeline.ts'
import { countRows, pruneUnseen, rememberKeys, type PruneTarget } from './prune.ts'
import type { CacheRebuildResult, RebuildRun, RowCounts } from './result.ts'
import type { StageSpec } from './stage.ts'

export type RebuildPart = Pick<CacheRebuildResult, 'files' | 'rows' | 'prune' | 'skipped' | 'trimmed' | 'config' | 'wal'>

export interface CacheWrite {
  spec: StageSpec
  target: CacheTable
  prune: PruneTarget
  /** The cache in PruneEmptyRootError, e.g. `file_metadata_cache (storage element se-01)`. */
  describe: string
  /** The module's own writes, in the same transaction, after the rows (not in a dry run). */
  finish?: (part: RebuildPart) => Promise<void>
}

/** Rebuilds one cache table from the attr.json files under `run.root`; the caller holds its cache lock. */
export async function writeCache(c: pg.ClientBase, run: RebuildRun, w: CacheWrite): Promise<RebuildPart> {
  // The stage is read several times: keep it in memory when it fits. PostgreSQL accepts this only
  // before the session's first temporary table, and outside a transaction (set later, it would abort it).
  await c.query(`set temp_buffers = '256MB'`).catch(() => undefined)
  return withTransaction(
    c,
    async () => {
      if (run.prune) await rememberKeys(c, w.prune)
      const { staged, counts } = await runPipeline(c, w.spec, w.target, run)
      const prune = !run.prune ? 'off' : staged.folderErrors ? 'refused' : run.dryRun ? 'would' : 'done'
      let pruned = 0
      if (prune === 'would' || prune === 'done') {
        if (staged.found === 0) {
          const cached = await countRows(c, w.prune)
          if (cached > 0) throw new PruneEmptyRootError(run.root, w.describe, cached)
        }
        pruned = await pruneUnseen(c, w.prune, run.dryRun)
      }
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
    },
    { commit: !run.dryRun },
  )
}
