// The responses Envoy itself gives, word for word, so a client sees the same
// thing from the local mesh as from Istio.
import type { ServerResponse } from 'node:http'

function send(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(status, {
    'content-type': 'text/plain',
    'content-length': Buffer.byteLength(body),
    date: new Date().toUTCString(),
    server: 'istio-envoy',
  })
  res.end(body)
}

/** An AuthorizationPolicy said no. */
export const sendRbacDenied = (res: ServerResponse) => send(res, 403, 'RBAC: access denied')

/** The destination did not answer (down, refused, reset before headers). */
export const sendUpstreamUnavailable = (res: ServerResponse, reason = 'connection failure') =>
  send(res, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`)

/** No route: the gateway answers 404 with an empty body. */
export function sendNoRoute(res: ServerResponse): void {
  res.writeHead(404, { 'content-length': 0, date: new Date().toUTCString(), server: 'istio-envoy' })
  res.end()
}

/** A host the mesh does not know (outbound traffic policy REGISTRY_ONLY). */
export const sendUnknownHost = (res: ServerResponse) => send(res, 502, '')

/** A request Envoy would refuse to parse. */
export const sendBadRequest = (res: ServerResponse) => send(res, 400, 'Bad Request')
