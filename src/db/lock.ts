import type pg from 'pg'
import { ArtstoreError } from '../errors.ts'

/**
 * The advisory-lock key Prisma's migrate takes for deploy and resolve: holding the same one makes our
 * own schema changes wait for a running `migrate deploy`, and the other way round.
 */
export const MIGRATION_LOCK_KEY = 72707369

export class LockTimeoutError extends ArtstoreError {
  constructor(seconds: number) {
    super(`another migration holds this database's migration lock (waited ${seconds} s): try again when it has finished`)
  }
}

/**
 * Runs `fn` inside one transaction that holds the migration lock; commits when `fn` resolves, rolls
 * back when it throws. Waits at most `waitSeconds` for the lock.
 */
export async function withMigrationTransaction<T>(c: pg.ClientBase, fn: () => Promise<T>, waitSeconds = 30): Promise<T> {
  await c.query('begin')
  try {
    await c.query(`set local lock_timeout = '${waitSeconds}s'`)
    try {
      await c.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY])
    } catch (e) {
      if ((e as { code?: string }).code === '55P03') throw new LockTimeoutError(waitSeconds)
      throw e
    }
    await c.query(`set local lock_timeout = 0`)
    const result = await fn()
    await c.query('commit')
    return result
  } catch (e) {
    await c.query('rollback').catch(() => undefined)
    throw e
  }
}

/** PostgreSQL's deadlock_detected. */
const DEADLOCK = '40P01'

export const isDeadlock = (e: unknown): boolean => {
  const err = e as { code?: string; message?: string }
  return err?.code === DEADLOCK || /deadlock detected/.test(String(err?.message ?? ''))
}

/**
 * Runs `fn` again (up to `attempts` times, a moment apart) when PostgreSQL chose it as the victim of a
 * deadlock. A migration that builds an index CONCURRENTLY waits for every transaction older than it,
 * among them another deploy or rollback that is waiting for the migration lock it holds: PostgreSQL
 * breaks that cycle by failing the waiter, before it has changed anything. Once the index is built the
 * lock is free, and the waiter's second try goes through.
 */
export async function retryOnDeadlock<T>(fn: () => Promise<T>, attempts = 20, pauseMs = 250): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (e) {
      if (!isDeadlock(e) || attempt >= attempts) throw e
      await new Promise((r) => setTimeout(r, pauseMs))
    }
  }
}
