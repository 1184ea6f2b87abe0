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
export async function generateClients(force = false): Promise<GenerateResult[]> {
  const results: GenerateResult[] = []
  for (const name of moduleNames) {
    const m = modules[name]
    const sum = createHash('sha256').update(fs.readFileSync(m.schemaFile)).digest('hex')
    const stamp = path.join(clientDir(name), STAMP)
    if (!force && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === sum) {
      results.push({ module: name, status: 'up-to-date' })
      continue
    }
    const run = await runPrisma(['generate'], { configFile: m.configFile })
    if (run.exitCode !== 0) {
      results.push({ module: name, status: 'failed', detail: (run.stderr || run.stdout).trim().split('\n').slice(-3).join(' ') })
      continue
    }
    fs.writeFileSync(stamp, sum)
    results.push({ module: name, status: 'generated' })
  }
  return results
}
