import { DuplicateRevisionError, MissingParentError, RevisionCycleError, SeveralHeadsError } from './errors.ts'

/** One revision of a history, named by the file that declares it. */
export interface ChainNode {
  file: string
  revision: string
  downRevisions: string[]
  dependsOn: string[]
  branchLabels: string[]
  createDate: string | null
}

/** Sort key among revisions that are ready at the same time (siblings before a merge). */
const byDateThenFile = (a: ChainNode, b: ChainNode) => (a.createDate ?? '').localeCompare(b.createDate ?? '') || a.file.localeCompare(b.file)

function indexRevisions<T extends ChainNode>(nodes: readonly T[]): Map<string, T> {
  const byRevision = new Map<string, T>()
  for (const n of nodes) {
    const other = byRevision.get(n.revision)
    if (other) throw new DuplicateRevisionError(n.revision, [other.file, n.file].sort())
    byRevision.set(n.revision, n)
  }
  return byRevision
}

/** Each node's parents: its down_revisions, plus depends_on entries (a revision id or a branch label). */
function parentsOf<T extends ChainNode>(nodes: readonly T[], byRevision: Map<string, T>): Map<T, T[]> {
  const byLabel = new Map<string, T>()
  for (const n of nodes) for (const l of n.branchLabels) byLabel.set(l, n)
  const parents = new Map<T, T[]>()
  for (const n of nodes) {
    const ps: T[] = []
    for (const d of n.downRevisions) {
      const p = byRevision.get(d)
      if (!p) throw new MissingParentError(n.file, d, 'revises')
      ps.push(p)
    }
    for (const d of n.dependsOn) {
      const p = byRevision.get(d) ?? byLabel.get(d)
      if (!p) throw new MissingParentError(n.file, d, 'depends on')
      if (!ps.includes(p)) ps.push(p)
    }
    parents.set(n, ps)
  }
  return parents
}

/** A cycle among `stuck` (nodes that never became ready), as file names, first file repeated at the end. */
function findCycle<T extends ChainNode>(stuck: readonly T[], parents: Map<T, T[]>): string[] {
  const path: T[] = []
  let n: T = [...stuck].sort(byDateThenFile)[0]
  while (!path.includes(n)) {
    path.push(n)
    n = parents.get(n)!.find((p) => stuck.includes(p))!
  }
  // Parent → child, starting from the first file by name, so the same cycle always reads the same.
  const cycle = path.slice(path.indexOf(n)).reverse()
  const first = cycle.indexOf([...cycle].sort((a, b) => a.file.localeCompare(b.file))[0])
  const rotated = [...cycle.slice(first), ...cycle.slice(0, first)]
  return [...rotated, rotated[0]].map((x) => x.file)
}

/**
 * Orders revisions parents first (topological order of the revision graph), not by file name.
 * Siblings that are ready together come by Create Date, then file name, so the order is stable.
 * Throws a named error for a duplicate revision id, a missing parent, a cycle, or several heads.
 */
export function orderChain<T extends ChainNode>(nodes: readonly T[]): T[] {
  const byRevision = indexRevisions(nodes)
  const parents = parentsOf(nodes, byRevision)
  const placed = new Set<T>()
  const order: T[] = []
  for (;;) {
    const ready = nodes.filter((n) => !placed.has(n) && parents.get(n)!.every((p) => placed.has(p)))
    if (!ready.length) break
    const next = ready.sort(byDateThenFile)[0]
    placed.add(next)
    order.push(next)
  }
  if (order.length < nodes.length)
    throw new RevisionCycleError(
      findCycle(
        nodes.filter((n) => !placed.has(n)),
        parents,
      ),
    )
  // A head is a revision no other revision revises (depends_on does not merge branches).
  const revised = new Set(nodes.flatMap((n) => n.downRevisions))
  const heads = nodes.filter((n) => !revised.has(n.revision))
  if (heads.length > 1) throw new SeveralHeadsError(heads.sort(byDateThenFile).map((h) => `${h.file} (${h.revision})`))
  return order
}
