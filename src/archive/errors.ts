/**
 * Named errors of `artstore-db archive` and `archive verify`. Each message is one line that names the
 * file or folder at fault and ends with the next step. Bad input exits 2 (nothing was changed); a
 * damaged archive exits 1, like a failed check.
 */
import { FailureError, RefusalError, UsageError } from '../errors.ts'

const list = (files: readonly string[]) => files.join(', ')

export class SourceFolderError extends UsageError {
  constructor(dir: string, reason: string, fix: string) {
    super(`${dir}: ${reason}: ${fix}`)
  }
}

export class NothingToArchiveError extends UsageError {
  constructor(dir: string) {
    super(
      `${dir} holds no migration files (no *.py revision, no <name>/migration.sql): point --from at an Alembic versions/ folder or a Prisma migrations folder`,
    )
  }
}

export class AlembicParseError extends UsageError {
  constructor(file: string, reason: string) {
    super(`${file} is not a readable Alembic revision (${reason}): fix the file, or move it out of the folder`)
  }
}

export class DuplicateRevisionError extends UsageError {
  constructor(revision: string, files: readonly string[]) {
    super(`revision ${revision} is declared by several files (${list(files)}): give each file its own revision id`)
  }
}

export class MissingParentError extends UsageError {
  constructor(file: string, parent: string, how: 'revises' | 'depends on') {
    super(
      `${file} ${how} ${parent}, which is not in the folder: add the missing revision file, or fix ${how === 'revises' ? 'down_revision' : 'depends_on'} in ${file}`,
    )
  }
}

export class RevisionCycleError extends UsageError {
  constructor(files: readonly string[]) {
    super(`the revisions form a cycle (${files.join(' → ')}): fix down_revision in one of these files`)
  }
}

export class SeveralHeadsError extends UsageError {
  constructor(heads: readonly string[]) {
    super(`the history has ${heads.length} heads (${list(heads)}): merge them first (alembic merge heads), then archive`)
  }
}

export class MixedSourceError extends UsageError {
  constructor(dir: string) {
    super(`${dir} holds both Alembic revisions (*.py) and Prisma migrations (migration.sql): archive them from separate folders`)
  }
}

export class InvalidArchiveDateError extends UsageError {
  constructor(given: string) {
    super(`invalid archive date "${given}": use a calendar date as YYYY-MM-DD (e.g. --date 2025-11-16)`)
  }
}

export class ArchiveConflictError extends RefusalError {
  constructor(archive: string, difference: string, module: string) {
    super(
      `${archive} already exists with different files (${difference}): nothing was changed; archive under another --date, or check it with npx artstore-db archive verify --module ${module}`,
    )
  }
}

export class NoArchiveError extends UsageError {
  constructor(module: string, root: string) {
    super(`module ${module} has no archive under ${root}: run npx artstore-db archive --module ${module} --from <versions dir> first`)
  }
}

/** An existing archive no longer matches its manifest: a failed check, exit 1. */
export class ArchiveTamperedError extends FailureError {
  constructor(archive: string, problem: string, module: string) {
    super(`${archive} does not match its manifest (${problem}): nothing was changed; run npx artstore-db archive verify --module ${module}`)
  }
}

export class ArchiveBusyError extends RefusalError {
  constructor(module: string, pid: number, lockFile: string) {
    super(`another archive run (pid ${pid}) is moving files of the ${module} module: wait for it to finish (if no such process runs, remove ${lockFile})`)
  }
}

/** A file did not copy into the archive exactly (changed meanwhile, or the disk returned other bytes). */
export class ArchiveCopyError extends FailureError {
  constructor(what: string) {
    super(what)
  }
}
