/**
 * Where a cache's attr.json files come from, as one small interface: a source lists its entries and
 * reads one. A local folder (both layouts, source-local.ts), an S3 bucket folder (source-s3.ts) and
 * several roots at once (below) are sources; the rebuild, its dry run, --prune and `cache check` take
 * one and never ask which.
 */
import type { AttrCheck } from './attr.ts'

/** One attr.json a source lists. */
export interface SourceEntry {
  /** Where reports show it: relative to its root, `/`-separated (with several roots, the root first). */
  rel: string
  /** The hour folder it is in, `YYYY/MM/DD/HH/`: what its storage_path must be. */
  folder: string
  /** Its name without `.attr.json`: the storage_filename it stands for. */
  name: string
}

export type Listed = ({ kind: 'file' } & SourceEntry) | { kind: 'folder-error'; rel: string; reason: string }

/** Reading one entry: its check, or `gone` (deleted after it was listed: neither a file nor an error). */
export type ReadResult = AttrCheck | { gone: true }

export type ReadItem = { kind: 'file'; entry: SourceEntry; result: AttrCheck } | Extract<Listed, { kind: 'folder-error' }>

/** A file whose id another root holds with a newer updated_at: the newer one is cached, and the report says so. */
export interface SupersededFile {
  path: string
  by: string
  reason: string
}

export interface AttrSource {
  /** The root(s) as given, safe to print. */
  readonly label: string
  /** How many reads may be in flight at once; 1 reads in listing order. */
  readonly concurrency: number
  /** Checks that the root can be read at all, before anything is changed; throws a named error (exit 2). */
  open(): Promise<void>
  /** Every attr.json, streamed; a listing that fails for good throws (the run fails, nothing is pruned). */
  list(): AsyncIterable<Listed>
  /** Reads and checks one listed entry. Never throws for a bad or unreadable file. */
  read(entry: SourceEntry): ReadResult | Promise<ReadResult>
  /** Whether the attr.json of (storage_path, storage_filename) exists now: --prune asks before it deletes a row. */
  has(folder: string, name: string): Promise<boolean>
  /** What the run saw beyond the files: how many were listed, gone before they were read, superseded by another root. */
  readonly stats: { listed: number; gone: number; superseded: SupersededFile[] }
  close(): Promise<void>
}

/** A fresh stats record. */
export const newStats = (): AttrSource['stats'] => ({ listed: 0, gone: 0, superseded: [] })

/**
 * Every entry of `source` with its read result, reads `source.concurrency` at a time, in completion
 * order. Listing, reading and the caller's work overlap, and at most twice the concurrency of entries
 * are held (read or in flight): memory stays flat however many files there are. Gone entries are counted
 * in the source's stats and not yielded.
 */
export async function* readEntries(source: AttrSource): AsyncGenerator<ReadItem> {
  if (source.concurrency <= 1) {
    for await (const e of source.list()) {
      if (e.kind !== 'file') yield e
      else {
        const r = source.read(e)
        const result = r instanceof Promise ? await r : r
        if ('gone' in result) source.stats.gone++
        else yield { kind: 'file', entry: e, result }
      }
    }
    return
  }
  const limit = source.concurrency
  const ready: ReadItem[] = []
  let active = 0
  let ended = false
  let stopped = false
  let failure: { error: unknown } | undefined
  // One waiter each: the listing loop waits for a slot, this generator for an item.
  let slot: (() => void) | undefined
  let item: (() => void) | undefined
  const wakeSlot = () => (slot?.(), (slot = undefined))
  const wakeItem = () => (item?.(), (item = undefined))
  const start = (e: SourceEntry) => {
    active++
    Promise.resolve()
      .then(() => source.read(e))
      .then(
        (result) => {
          if ('gone' in result) source.stats.gone++
          else ready.push({ kind: 'file', entry: e, result })
        },
        (error) => void (failure ??= { error }),
      )
      .finally(() => {
        active--
        wakeSlot()
        wakeItem()
      })
  }
  const listing = (async () => {
    try {
      for await (const e of source.list()) {
        if (stopped || failure) break
        if (e.kind !== 'file') {
          ready.push(e)
          wakeItem()
          continue
        }
        while (active + ready.length >= 2 * limit && !stopped && !failure) await new Promise<void>((r) => (slot = r))
        if (stopped || failure) break
        start(e)
      }
    } catch (error) {
      failure ??= { error }
    } finally {
      ended = true
      wakeItem()
    }
  })()
  try {
    for (;;) {
      if (failure) throw failure.error
      const next = ready.shift()
      if (next) {
        wakeSlot()
        yield next
        continue
      }
      if (ended && active === 0) break
      await new Promise<void>((r) => (item = r))
    }
  } finally {
    stopped = true
    wakeSlot()
    await listing
  }
}

/**
 * Which of `names` (attr.json names without `.attr.json`) `source` holds now, from a new listing: what
 * --prune asks at the end when a row does not know its folder. A listing with a folder that cannot be
 * read answers "all of them" (a row is kept rather than deleted on a guess); one that fails throws.
 */
export async function namesPresent(source: AttrSource, names: ReadonlySet<string>): Promise<ReadonlySet<string>> {
  const found = new Set<string>()
  const listed = source.stats.listed
  try {
    for await (const e of source.list()) {
      if (e.kind !== 'file') return names
      if (names.has(e.name)) found.add(e.name)
    }
  } finally {
    // The run's count is of its own listing.
    source.stats.listed = listed
  }
  return found
}

/** The uuid at the end of a storage filename (`…_<uuid><ext>`), as the listing shows it. */
const UUID_IN_NAME = /_([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/g
const idOfName = (name: string) => {
  let last: string | undefined
  for (const m of name.matchAll(UUID_IN_NAME)) last = m[1]
  return last?.toLowerCase()
}

type MultiEntry = SourceEntry & { inner: SourceEntry; from: number; preread?: ReadResult }

/**
 * Several roots as one source (e.g. the old local `.attrs/` files and the bucket). A file id found in
 * more than one root is read in each, and only the one with the newest updated_at is handed on; the
 * others are reported as superseded. To know those ids before anything is read, the roots' listings
 * are held in memory (about 200 bytes a file); one root alone streams.
 */
export class MultiSource implements AttrSource {
  readonly label: string
  readonly concurrency: number
  readonly stats = newStats()
  constructor(private readonly sources: readonly AttrSource[]) {
    this.label = sources.map((s) => s.label).join(', ')
    this.concurrency = Math.max(...sources.map((s) => s.concurrency))
  }

  async open(): Promise<void> {
    for (const s of this.sources) await s.open()
  }

  private wrap(e: SourceEntry, from: number): MultiEntry {
    return { rel: `${this.sources[from].label}/${e.rel}`, folder: e.folder, name: e.name, inner: e, from }
  }

  async *list(): AsyncGenerator<Listed> {
    const lists: Listed[][] = []
    const roots = new Map<string, Set<number>>()
    for (const [i, s] of this.sources.entries()) {
      const all: Listed[] = []
      for await (const e of s.list()) {
        all.push(e)
        if (e.kind !== 'file') continue
        this.stats.listed++
        const id = idOfName(e.name)
        if (id) roots.set(id, (roots.get(id) ?? new Set()).add(i))
      }
      lists.push(all)
    }
    const contested = new Map<string, MultiEntry[]>()
    for (const [i, all] of lists.entries()) {
      for (const e of all) {
        if (e.kind !== 'file') {
          yield { ...e, rel: `${this.sources[i].label}/${e.rel}` }
          continue
        }
        const id = idOfName(e.name)
        const entry = this.wrap(e, i)
        if (id && roots.get(id)!.size > 1) contested.set(id, [...(contested.get(id) ?? []), entry])
        else yield { kind: 'file', ...entry }
      }
      lists[i] = []
    }
    for (const entries of contested.values()) for (const e of await this.settle(entries)) yield { kind: 'file', ...e }
  }

  /**
   * The entries of one id found in several roots: each is read; when every root holds it once and some
   * are good, the good one with the newest updated_at goes on alone. Otherwise all go on, and the rebuild
   * judges them as it judges any two files of one id.
   */
  private async settle(entries: MultiEntry[]): Promise<MultiEntry[]> {
    for (const e of entries) {
      const r = this.sources[e.from].read(e.inner)
      e.preread = r instanceof Promise ? await r : r
    }
    const perRoot = new Set(entries.map((e) => e.from))
    const good = entries.filter((e) => e.preread && 'ok' in e.preread && e.preread.ok)
    if (perRoot.size < entries.length || !good.length) return entries
    const at = (e: MultiEntry) => {
      const r = e.preread as Extract<AttrCheck, { ok: true }>
      return Date.parse(r.doc.updated_at.replace(' ', 'T'))
    }
    const winner = good.reduce((a, b) => (at(b) > at(a) ? b : a))
    const updated = (winner.preread as Extract<AttrCheck, { ok: true }>).doc.updated_at
    for (const e of entries) {
      if (e === winner) continue
      this.stats.superseded.push({
        path: e.rel,
        by: winner.rel,
        reason: `the same file_id is in ${winner.rel}, updated later (${updated}): that one is cached`,
      })
    }
    return [winner]
  }

  read(entry: SourceEntry): ReadResult | Promise<ReadResult> {
    const e = entry as MultiEntry
    return e.preread ?? this.sources[e.from].read(e.inner)
  }

  async has(folder: string, name: string): Promise<boolean> {
    for (const s of this.sources) if (await s.has(folder, name)) return true
    return false
  }

  async close(): Promise<void> {
    for (const s of this.sources) await s.close()
  }
}

/** What `--root` may be: a local folder, or `s3://<bucket>/<app folder>` (the storage element's S3 variables say where and as whom). */
export const isS3Root = (root: string) => /^s3:\/\//i.test(root)

/**
 * The source of one or more roots, not yet opened. The S3 client is loaded only for an s3:// root.
 * `readConcurrency` (S3 only): GETs in flight at once, default DEFAULT_S3_CONCURRENCY.
 */
export async function sourceOf(roots: readonly string[], env: Record<string, string | undefined>, readConcurrency?: number): Promise<AttrSource> {
  const one = async (root: string): Promise<AttrSource> => {
    if (!isS3Root(root)) return new (await import('./source-local.ts')).LocalSource(root)
    const s3 = await import('./source-s3.ts')
    s3.parseS3Root(root)
    return new s3.S3Source(root, s3.s3Settings(env), readConcurrency)
  }
  const sources = []
  for (const r of roots) sources.push(await one(r))
  return sources.length === 1 ? sources[0] : new MultiSource(sources)
}
