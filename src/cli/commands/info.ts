import type { Command } from 'commander'
import { info, type Info } from '../../index.ts'
import { report, type Output } from '../output.ts'
import { JSON_OPTION, MODULE_OPTION, PREFIX_OPTION } from '../options.ts'
import { EXIT } from '../exit-codes.ts'

function text(i: Info): string {
  const engine =
    i.engine.kind === 'native' ? `native schema engine ${i.engine.hash}` : `offline bridge ${i.engine.executable} (engine ${i.engine.hash}, ${i.engine.glue})`
  return [
    `Prisma ${i.prisma} (client ${i.client}), Node ${i.node}`,
    `Schema engine: ${engine}`,
    ...i.modules.map((m) => `${m.module.padEnd(16)} ${m.database}  [${m.source}, schema ${m.pgSchema}, ${m.server}]`),
  ].join('\n')
}

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  program
    .command('info')
    .description('show the database each module uses (password masked) and the Prisma, engine and PostgreSQL versions')
    .option(...MODULE_OPTION)
    .option(...PREFIX_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { module?: string; prefix?: string; json?: boolean }) => {
      report(o, !!opts.json, await info({ module: opts.module, prefix: opts.prefix }), text)
      setExit(EXIT.ok)
    })
}
