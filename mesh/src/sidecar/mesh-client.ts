// How a workload's sidecar (and the gateway) calls another workload: mTLS
// with its own SVID, pooled keep-alive connections, and the server must
// present the destination's SPIFFE ID. A rotated SVID gets fresh pools;
// the old ones finish what they carry and close.
import { type Socket, connect as tcpConnect } from 'node:net'
import { type PeerCertificate, connect as tlsConnect } from 'node:tls'
import { type Dispatcher, Pool } from 'undici'
import type { IssuedCertificate } from '../ca/certificate-authority.ts'
import { SvidError, spiffeIdOf } from '../ca/spiffe-peer.ts'
import type { SvidSource } from '../ca/svid-rotation.ts'
import { upstreamTimeouts } from './upstream-timeout.ts'

export interface MeshTarget {
  /** Where the destination's inbound sidecar listens. */
  port: number
  /** Its address: 127.0.0.1 when absent (every sidecar on loopback, as under pnpm dev). */
  host?: string
  /** The SPIFFE ID the destination must present; null for a destination without a sidecar (plaintext). */
  spiffeId: string | null
}

export interface MeshClient {
  dispatcherFor(target: MeshTarget): Dispatcher
  /** A raw connection to the target (mTLS when it has a sidecar), for TCP ports. */
  connect(target: MeshTarget): Socket
  close(): Promise<void>
}

export function createMeshClient(
  svid: SvidSource,
  rootPem: string,
  options: { connections?: number; timeoutMs?: number } = {},
): MeshClient {
  let pools = new Map<string, Pool>()
  let current: IssuedCertificate = svid.current()

  const open = (target: MeshTarget) =>
    target.spiffeId === null
      ? new Pool(`http://${target.host ?? '127.0.0.1'}:${target.port}`, {
          connections: options.connections ?? 32,
          keepAliveTimeout: 60_000,
          ...upstreamTimeouts(options.timeoutMs),
        })
      : new Pool(`https://${target.host ?? '127.0.0.1'}:${target.port}`, {
          connections: options.connections ?? 32,
          keepAliveTimeout: 60_000,
          ...upstreamTimeouts(options.timeoutMs),
          connect: {
            ca: rootPem,
            cert: current.certPem,
            key: current.keyPem,
            minVersion: 'TLSv1.2',
            checkServerIdentity: (_host: string, cert: PeerCertificate) => {
              try {
                const id = spiffeIdOf(cert.raw)
                return id === target.spiffeId
                  ? undefined
                  : new SvidError(`server presented ${id}, expected ${target.spiffeId}`)
              } catch (error) {
                return error as Error
              }
            },
          },
        })

  svid.onRotate((next) => {
    current = next
    const old = pools
    pools = new Map()
    for (const pool of old.values()) void pool.close()
  })

  return {
    connect(target) {
      if (target.spiffeId === null) return tcpConnect(target.port, target.host ?? '127.0.0.1')
      const expected = target.spiffeId
      return tlsConnect({
        host: target.host ?? '127.0.0.1',
        port: target.port,
        ca: rootPem,
        cert: current.certPem,
        key: current.keyPem,
        minVersion: 'TLSv1.2',
        checkServerIdentity: (_host: string, cert: PeerCertificate) => {
          try {
            const id = spiffeIdOf(cert.raw)
            return id === expected ? undefined : new SvidError(`server presented ${id}, expected ${expected}`)
          } catch (error) {
            return error as Error
          }
        },
      })
    },
    dispatcherFor(target) {
      const key = `${target.host ?? '127.0.0.1'}:${target.port}|${target.spiffeId}`
      let pool = pools.get(key)
      if (!pool) {
        pool = open(target)
        pools.set(key, pool)
      }
      return pool
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.destroy()))
      pools.clear()
    },
  }
}
