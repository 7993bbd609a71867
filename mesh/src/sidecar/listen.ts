// Starts a proxy's server on loopback and gives back its port and a close
// that ends open connections too (a sidecar going away drops its traffic).
import { once } from 'node:events'
import type { Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'

export interface RunningSidecar {
  port: number
  close(): Promise<void>
}

export async function listenOnLoopback(
  server: HttpServer | HttpsServer,
  port: number,
  onClose?: () => Promise<void>,
  /** 127.0.0.1 unless other hosts must reach it (a sidecar in its own network namespace, as in compose). */
  host = '127.0.0.1',
): Promise<RunningSidecar> {
  server.listen(port, host)
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await onClose?.()
    },
  }
}
