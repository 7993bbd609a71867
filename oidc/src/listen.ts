// Runs the local provider on an HTTP server: the process (server.ts) and the
// tests of the services that sign in through it both start it from here.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ClientMetadata } from 'oidc-provider'
import { handleInteraction } from './interactions.ts'
import { createLocalProvider } from './provider.ts'
import { type LocalUser, SEEDED_USERS } from './users.ts'

export interface ListenOptions {
  host?: string
  /** 0 picks a free port. */
  port?: number
  /** Defaults to http://<host>:<port>; a function is given the port bound (port 0 picks it). */
  issuer?: string | ((port: number) => string)
  clients: ClientMetadata[]
  users?: readonly LocalUser[]
  cookieKeys?: string[]
}

export interface RunningProvider {
  issuer: string
  server: Server
  close(): Promise<void>
}

export async function listenLocalProvider(options: ListenOptions): Promise<RunningProvider> {
  const host = options.host ?? '127.0.0.1'
  const server = createServer()
  server.listen(options.port ?? 0, host)
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const issuer =
    typeof options.issuer === 'function' ? options.issuer(port) : (options.issuer ?? `http://${host}:${port}`)
  const users = options.users ?? SEEDED_USERS
  const provider = createLocalProvider({
    issuer,
    users,
    clients: options.clients,
    cookieKeys: options.cookieKeys ?? [String(options.clients[0]?.client_secret ?? 'local')],
  })
  const callback = provider.callback()
  const formTargets = [
    ...new Set(options.clients.flatMap((c) => (c.redirect_uris ?? []).map((uri) => new URL(uri).origin))),
  ]
  server.on('request', (req, res) => {
    void handleInteraction(provider, users, req, res, formTargets).then((handled) => {
      if (!handled) callback(req, res)
    })
  })
  return {
    issuer,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
