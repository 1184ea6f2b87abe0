import { createRequire } from 'node:module'
import { describeTarget, withCheckedTargets, type CommandOptions } from '../context.ts'
import { withClient } from '../db/targets.ts'
import { engineVersions } from '../engine/wasm.ts'
import { bridgeExecutable, usesNativeEngine } from '../prisma/run.ts'

const require = createRequire(import.meta.url)

export interface Info {
  node: string
  prisma: string
  client: string
  engine: { kind: 'offline-bridge' | 'native'; hash: string; glue?: string; executable?: string }
  modules: (ReturnType<typeof describeTarget> & { server: string })[]
}

/** `info`: which database each module uses (masked), and the Prisma, engine and PostgreSQL versions. */
export function info(opts: CommandOptions = {}): Promise<Info> {
  return withCheckedTargets(opts, async (targets) => {
    const v = engineVersions()
    const native = usesNativeEngine(opts.env)
    const modules = []
    for (const t of targets) {
      const server = await withClient(t, async (c) => (await c.query('show server_version')).rows[0].server_version as string)
      modules.push({ ...describeTarget(t), server: `PostgreSQL ${server.split(' ')[0]}` })
    }
    return {
      node: process.version,
      prisma: v.prisma,
      client: require('@prisma/client/package.json').version as string,
      engine: native
        ? { kind: 'native', hash: v.engineHash }
        : { kind: 'offline-bridge', hash: v.engineHash, glue: `@prisma/schema-engine-wasm ${v.glue}`, executable: bridgeExecutable },
      modules,
    }
  })
}
