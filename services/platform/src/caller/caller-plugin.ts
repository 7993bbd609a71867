// The second lock behind the mesh's AuthorizationPolicies: a route that sets
// `config: { callers: [...] }` admits only those workload principals, read
// from the x-forwarded-client-cert header the sidecar adds. The header is
// believed only when the app is configured to run behind such a sidecar
// (MESH_SIDECAR); otherwise anyone who can reach the app could write it, so a
// request carrying it is refused and no caller is admitted to those routes.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../errors/problem.ts'
import { type PeerIdentity, peerFromXfcc, XfccError } from './xfcc.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Istio principals (`cluster.local/ns/docs/sa/frontend-sa`) allowed to call this route. */
    callers?: readonly string[]
  }
  interface FastifyRequest {
    /** The calling workload, for routes that declare `callers`. */
    peer: PeerIdentity | null
  }
}

export interface CallerPluginOptions {
  /** This workload's own principal: when the header names who added it (By), it must be us. */
  self: string
  /** A sidecar fronts the app and sets x-forwarded-client-cert (config MESH_SIDECAR). */
  behindSidecar: boolean
}

export const principalOf = (trustDomain: string, namespace: string, serviceAccount: string): string =>
  `${trustDomain}/ns/${namespace}/sa/${serviceAccount}`

export function readPeer(request: FastifyRequest, self: string): PeerIdentity {
  const header = request.headers['x-forwarded-client-cert']
  if (header === undefined)
    throw new HttpProblem(403, 'ERR_CALLER_MISSING', 'this route is for mesh workloads only')
  if (Array.isArray(header))
    throw new HttpProblem(403, 'ERR_CALLER_MALFORMED', 'more than one x-forwarded-client-cert header')
  try {
    const peer = peerFromXfcc(header)
    if (peer.by !== null && peer.by !== `spiffe://${self}`) {
      throw new HttpProblem(
        403,
        'ERR_CALLER_MALFORMED',
        'x-forwarded-client-cert was not added by this workload',
      )
    }
    return peer
  } catch (error) {
    if (error instanceof XfccError) throw new HttpProblem(403, 'ERR_CALLER_MALFORMED', error.message)
    throw error
  }
}

export const callerPlugin = fp<CallerPluginOptions>(
  async (app: FastifyInstance, options) => {
    app.decorateRequest('peer', null)
    app.addHook('onRequest', async (request) => {
      const callers = request.routeOptions.config.callers
      if (!options.behindSidecar) {
        if (request.headers['x-forwarded-client-cert'] !== undefined)
          throw new HttpProblem(
            400,
            'ERR_XFCC_UNTRUSTED',
            'x-forwarded-client-cert is refused: no mesh sidecar fronts this app to vouch for it',
          )
        if (callers)
          throw new HttpProblem(
            403,
            'ERR_CALLER_UNVERIFIABLE',
            'this route is for mesh workloads only, and no mesh sidecar fronts this app',
          )
        return
      }
      if (!callers) return
      const peer = readPeer(request, options.self)
      if (!callers.includes(peer.principal)) {
        throw new HttpProblem(403, 'ERR_CALLER_FORBIDDEN', `${peer.principal} may not call this route`)
      }
      request.peer = peer
    })
  },
  { name: 'docs-mesh-caller' },
)
