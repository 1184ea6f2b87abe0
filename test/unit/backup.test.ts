import fs from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'
import { makeOwnerOnlyFolder } from '../../src/adopt/backup.ts'
import { scratchRoot } from '../helpers/workdir.ts'

test('attack: adopt as root on a fresh checkout made .artstore/ owner-only, so the embedded server (user postgres) could not reach its data; only the backup folder is', () => {
  const checkout = path.join(scratchRoot, 'backup-modes')
  fs.rmSync(checkout, { recursive: true, force: true })
  const previous = process.umask(0o022)
  try {
    const dir = makeOwnerOnlyFolder(path.join(checkout, '.artstore', 'backups'), 'admin-2026')
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
    expect(fs.statSync(path.join(checkout, '.artstore')).mode & 0o777).toBe(0o755)
    expect(fs.statSync(path.join(checkout, '.artstore', 'backups')).mode & 0o777).toBe(0o755)
  } finally {
    process.umask(previous)
  }
})
