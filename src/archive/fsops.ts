import fs from 'node:fs'
import path from 'node:path'
import { sha256Hex } from './source.ts'
import { ArchiveCopyError } from './errors.ts'

/** Writes `data` to a new file and forces it to disk before returning. */
export function writeDurable(file: string, data: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const fd = fs.openSync(file, 'wx')
  try {
    fs.writeFileSync(fd, data)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Forces a folder's entries (new names, renames) to disk. Some platforms cannot open folders: skip there. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch {
    /* not supported on this platform (e.g. Windows): the rename is still atomic */
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

/**
 * Copies `src` to `dst` and proves the copy: the source must still have the planned sha256 (it was
 * not edited since the plan), and the bytes read back from disk must hash the same. Throws otherwise;
 * the source is never touched here.
 */
export function copyVerified(src: string, dst: string, sha256: string): void {
  const bytes = fs.readFileSync(src)
  if (sha256Hex(bytes) !== sha256) throw new ArchiveCopyError(`${src} changed while it was being archived: run the command again`)
  writeDurable(dst, bytes)
  if (sha256Hex(fs.readFileSync(dst)) !== sha256)
    throw new ArchiveCopyError(`the copy of ${src} at ${dst} does not read back identical: check the disk, then run the command again`)
}

/** Replaces `file` atomically: a temporary sibling, fsync, rename, fsync of the folder. */
export function writeAtomic(file: string, data: string): void {
  const tmp = `${file}.tmp-${process.pid}`
  fs.rmSync(tmp, { force: true })
  writeDurable(tmp, data)
  fs.renameSync(tmp, file)
  fsyncDir(path.dirname(file))
}

/** Removes `dir` and its empty parents up to (not including) `stop`, as long as each is empty. */
export function removeEmptyDirs(dir: string, stop: string): void {
  let d = dir
  while (d.startsWith(stop + path.sep) && fs.existsSync(d) && fs.readdirSync(d).length === 0) {
    fs.rmdirSync(d)
    d = path.dirname(d)
  }
}
