// Reads matrix.yaml into the list of cells the e2e test asserts.
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

export interface MeshCell {
  from: string
  service: string
  port: number
  method: string
  path: string
  /** allow / deny: the L7 policy's answer; network: dropped before it (the caller's sidecar times out). */
  expect: 'allow' | 'deny' | 'network'
  /** The policy's own answer, also for a call the network drops first. */
  policy: 'allow' | 'deny'
}

export interface RefusedCell {
  from: 'plaintext' | 'foreign-ca'
  service: string
  port: number
  /** curl's 28: no answer until the client gave up, the network dropped the connection. */
  exitCode: 28
}

export interface GatewayCell {
  method: string
  path: string
  host?: string
  /** The workload whose sidecar must receive the request. */
  to?: string
  /** The path its app must see. */
  app_path?: string
  status?: number
  empty?: boolean
  /** The answer is the browser app's page (the frontend's catch-all), not any API's data. */
  page?: boolean
}

interface MatrixFile {
  sources: string[]
  mesh: Record<
    string,
    {
      port: number
      network: string[]
      probes: Array<{ method: string; path: string; allow: string[] | 'all' }>
    }
  >
  refused: Array<{ service: string; port: number }>
  gateway: GatewayCell[]
}

export interface Matrix {
  mesh: MeshCell[]
  refused: RefusedCell[]
  gateway: GatewayCell[]
}

export function loadMatrix(file: string): Matrix {
  const data = parse(readFileSync(file, 'utf8')) as MatrixFile
  const mesh: MeshCell[] = []
  for (const [service, { port, network, probes }] of Object.entries(data.mesh)) {
    for (const unknown of network.filter((s) => !data.sources.includes(s)))
      throw new Error(`matrix: ${service} network lists unknown source ${unknown}`)
    for (const probe of probes) {
      for (const unknown of probe.allow === 'all'
        ? []
        : probe.allow.filter((s) => !data.sources.includes(s))) {
        throw new Error(`matrix: ${service} ${probe.method} ${probe.path} allows unknown source ${unknown}`)
      }
      for (const from of data.sources) {
        const policy = probe.allow === 'all' || probe.allow.includes(from) ? 'allow' : 'deny'
        mesh.push({
          from,
          service,
          port,
          method: probe.method,
          path: probe.path,
          expect: network.includes(from) ? policy : 'network',
          policy,
        })
      }
    }
  }
  const refused = data.refused.flatMap(({ service, port }) => [
    { from: 'plaintext' as const, service, port, exitCode: 28 as const },
    { from: 'foreign-ca' as const, service, port, exitCode: 28 as const },
  ])
  return { mesh, refused, gateway: data.gateway }
}
