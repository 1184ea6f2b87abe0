// The interrupt clean-up unwinds like `finally` blocks: newest first, each after the one before has
// ended, so a scratch database on the embedded server is dropped before the server stops.
import { expect, test } from 'vitest'
import { onInterrupt, runInterruptCleanups } from '../../src/process/cleanup.ts'

test('the clean-ups run newest first, one after another; one taken off does not run', async () => {
  const events: string[] = []
  const step = (name: string) => async () => {
    events.push(`${name} starts`)
    await new Promise((r) => setTimeout(r, 20))
    events.push(`${name} ends`)
  }
  onInterrupt(step('embedded server stop'))
  const forget = onInterrupt(step('forgotten'))
  onInterrupt(step('scratch database drop'))
  forget()
  await runInterruptCleanups()
  expect(events).toEqual(['scratch database drop starts', 'scratch database drop ends', 'embedded server stop starts', 'embedded server stop ends'])
})

test('a clean-up that fails does not stop the others', async () => {
  const ran: string[] = []
  onInterrupt(async () => void ran.push('first registered'))
  onInterrupt(async () => {
    throw new Error('the server is gone')
  })
  await runInterruptCleanups()
  expect(ran).toEqual(['first registered'])
})
