/** The typed input and output of a cache rebuild, shared by both modules. */
import type { ChunkBounds } from './chunks.ts'
import type { AttrSource, SupersededFile } from './source.ts'
import type { Progress, SkippedFile, TrimmedFile } from './stage.ts'

export interface RebuildRun {
  /** The root(s) as reports show them: absolute folders, s3:// URLs. */
  root: string
  /** Where the attr.json files come from (opened). */
  source: AttrSource
  dryRun: boolean
  prune: boolean
  onProgress?: (p: Progress) => void
  /** How long to wait for another rebuild of the same cache; default 30 s. */
  lockWaitSeconds?: number
  /** Files per COPY into the stage; default 10 000. */
  batchFiles?: number
  /** The bounds of each write: rows per chunk, lock_timeout, statement_timeout, retries. */
  bounds: ChunkBounds
  /** Told, as chunks commit, how many rows the run has written so far. */
  written?: (rows: number) => void
}

/** What happened to the cache rows; in a dry run, what would happen. */
export interface RowCounts {
  inserted: number
  updated: number
  /** Good files whose row was already exactly as the file says. */
  unchanged: number
  pruned: number
}

export interface CacheRebuildResult {
  module: 'storage-element' | 'query'
  /** rebuilt, or would-rebuild for --dry-run (nothing was changed). */
  status: 'rebuilt' | 'would-rebuild'
  database: string
  pgSchema: string
  table: string
  root: string
  /** Query module: whose rows were rebuilt (the only rows a rebuild touches). */
  storageElementId?: string
  files: { found: number; good: number; skipped: number }
  rows: RowCounts
  /** off (no --prune), done, would (dry run), refused (a folder could not be listed: the walk is incomplete). */
  prune: 'off' | 'done' | 'would' | 'refused'
  /** Every file left out, sorted by path, with its reason. */
  skipped: SkippedFile[]
  /** With several roots: files whose file_id another root holds, updated later (that one is cached). */
  superseded?: SupersededFile[]
  /** Objects listed but deleted before they were read: gone, as if never listed. */
  gone?: number
  /** Files cached with something cut (query cache: tags). */
  trimmed: TrimmedFile[]
  /** Storage element: the config row after the rebuild. */
  config?: { totalFiles: number; totalSizeBytes: string; lastCacheRebuild: string; created: boolean }
  /** Storage element: the cache_rebuild entry of the write-ahead log. */
  wal?: { transactionId: string; status: 'committed' }
  durationMs: number
}
