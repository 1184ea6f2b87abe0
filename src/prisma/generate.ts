import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { moduleNames, modules, projectRoot } from '../modules.ts'
import { runPrisma } from './run.ts'

/** Where each module's Prisma Client is generated (git-ignored): generated/<module>/. */
export const clientDir = (module: string) => path.join(projectRoot, 'generated', module)

export interface GenerateResult {
  module: string
  status: 'generated' | 'up-to-date' | 'failed'
  detail?: string
}

const STAMP = '.schema-sha256'

/**
 * Generates the Prisma Client of every module whose schema changed since its last generation (a
 * sha256 of schema.prisma is kept beside the client). Needs no database.
 */
export function generateClients(force = false): Promise<GenerateResult[]> {
  // The three modules at once: each is a Prisma CLI process of its own, writing its own folder.
  return Promise.all(moduleNames.map((name) => generateClient(name, force)))
}

async function generateClient(name: (typeof moduleNames)[number], force: boolean): Promise<GenerateResult> {
  const m = modules[name]
  const sum = createHash('sha256').update(fs.readFileSync(m.schemaFile)).digest('hex')
  const stamp = path.join(clientDir(name), STAMP)
  if (!force && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === sum) return { module: name, status: 'up-to-date' }
  const run = await runPrisma(['generate'], { configFile: m.configFile })
  if (run.exitCode !== 0) return { module: name, status: 'failed', detail: (run.stderr || run.stdout).trim().split('\n').slice(-3).join(' ') }
  fs.writeFileSync(stamp, sum)
  return { module: name, status: 'generated' }
}
