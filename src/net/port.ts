import net from 'node:net'

/** Whether something accepts connections on 127.0.0.1:`port` (a refused connection is a free port). */
export function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    const done = (taken: boolean) => {
      socket.destroy()
      resolve(taken)
    }
    socket.setTimeout(2000, () => done(true))
    socket.once('connect', () => done(true))
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code !== 'ECONNREFUSED'))
  })
}
