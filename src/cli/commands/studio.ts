import { InvalidArgumentError, type Command } from 'commander'
import { studio } from '../../index.ts'
import type { Output } from '../output.ts'
import { ONE_MODULE_OPTION, PREFIX_OPTION } from '../options.ts'

export function register(program: Command, o: Output, setExit: (code: number) => void) {
  program
    .command('studio')
    .description("open Prisma Studio for one module's database, on 127.0.0.1 (stop it with Ctrl-C)")
    .option(...ONE_MODULE_OPTION)
    .option(...PREFIX_OPTION)
    .option(
      '--port <port>',
      'port on 127.0.0.1',
      (v: string) => {
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new InvalidArgumentError('a port number from 1 to 65535, e.g. --port 5555')
        return v
      },
      '5555',
    )
    .action(async (opts: { module?: string; prefix?: string; port: string }) => {
      const port = Number(opts.port)
      setExit(
        await studio({ module: opts.module, prefix: opts.prefix, port, onReady: (r) => o.out(`Prisma Studio for ${r.module} (${r.database}) at ${r.url}`) }),
      )
    })
}
