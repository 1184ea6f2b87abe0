import { describe, expect, test } from 'vitest'
import { lockRetrySettings, pauseAfterMs, tryTimeoutMs } from '../../src/db/lock-retry.ts'

/**
 * The tries' schedule against one session that holds a conflicting lock for `heldMs` from the first
 * try on: each try stands in the table's lock queue (the services' statements behind it) for its whole
 * lock_timeout while the lock is held, then pauses; the first try after the holder lets go gets it.
 */
function against(heldMs: number, s = lockRetrySettings({ env: {} })) {
  let t = 0
  let queuedMs = 0
  let longestWaitMs = 0
  for (let attempt = 1; ; attempt++) {
    if (t >= heldMs) return { tries: attempt, queuedMs, longestWaitMs, appliedAtMs: t }
    const timeout = tryTimeoutMs(attempt, s)
    queuedMs += timeout
    longestWaitMs = Math.max(longestWaitMs, timeout)
    t += timeout + pauseAfterMs(attempt)
  }
}

describe('lock timeouts with retries: the default schedule', () => {
  test('no try waits more than 50 ms for its lock, so no statement queued behind one waits longer', () => {
    const s = lockRetrySettings({ env: {} })
    expect(s.lockTimeoutMs).toBe(50)
    expect(Math.max(...Array.from({ length: 200 }, (_, i) => tryTimeoutMs(i + 1, s)))).toBe(50)
    expect(against(20_000).longestWaitMs).toBe(50)
  })

  test("beside a 20 s reader the tries block the table's queue at most 5 % of the time", () => {
    const r = against(20_000)
    expect(r.queuedMs / 20_000).toBeLessThanOrEqual(0.05)
    // and the migration applies at most one pause and one try after the reader ends
    expect(r.appliedAtMs - 20_000).toBeLessThanOrEqual(2_000 + 50)
  })

  test('a longer --lock-timeout is reached 50 ms doubling, and a budget of 0 gives one try of the whole timeout', () => {
    const s = lockRetrySettings({ lockTimeout: '2s', env: {} })
    expect(Array.from({ length: 8 }, (_, i) => tryTimeoutMs(i + 1, s))).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000])
    expect(tryTimeoutMs(1, lockRetrySettings({ lockTimeout: '2s', lockRetryFor: '0', env: {} }))).toBe(2000)
    expect(Array.from({ length: 5 }, (_, i) => tryTimeoutMs(i + 1, lockRetrySettings({ env: { ARTSTORE_LOCK_TIMEOUT: '500ms' } })))).toEqual([
      50, 100, 200, 400, 500,
    ])
  })
})
