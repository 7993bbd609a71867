// The client address rate limits and audit entries key on, as Istio defines
// it: the ingress gateway (Envoy with use_remote_address and
// numTrustedProxies, 0 by default) writes the address it trusts into
// x-envoy-external-address, overwriting any the client sent, and the sidecar
// passes it on. The header is read only when a sidecar fronts the app
// (MESH_SIDECAR); otherwise the TCP peer is the client. X-Forwarded-For is
// never used: its leftmost entries are whatever the client wrote.
// Envoy: source/common/http/conn_manager_utility.cc (mutateRequestHeaders sets
// x-envoy-external-address on edge requests);
// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-envoy-external-address
// Istio: https://istio.io/latest/docs/ops/configuration/traffic-management/network-topologies/
import { isIP } from 'node:net'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyRequest {
    /** The client's address as the gateway vouches for it, or the TCP peer without a sidecar. */
    clientAddress: string
  }
}

export function clientAddressOf(request: FastifyRequest, behindSidecar: boolean): string {
  const peer = request.socket.remoteAddress ?? ''
  if (!behindSidecar) return peer
  const external = request.headers['x-envoy-external-address']
  // Absent on calls that did not come through the gateway (workload to workload): the peer then.
  return typeof external === 'string' && isIP(external.trim()) !== 0 ? external.trim() : peer
}

export const clientAddressPlugin = fp<{ behindSidecar: boolean }>(
  async (app: FastifyInstance, options) => {
    app.decorateRequest('clientAddress', '')
    app.addHook('onRequest', async (request) => {
      request.clientAddress = clientAddressOf(request, options.behindSidecar)
    })
  },
  { name: 'docs-mesh-client-address' },
)
