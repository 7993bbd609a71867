// The responses Envoy itself gives, word for word, so a client sees the same
// thing from the local mesh as from Istio.
import type { Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { detailsText, noteResponse, type ResponseFlag } from '../telemetry/response-info.ts'

/**
 * The `server` header each proxy writes over every response (Istio sets
 * `server_header_transformation: OVERWRITE` on all of them): `istio-envoy` on
 * the inbound sidecar and the gateway, Envoy's default `envoy` on the outbound
 * sidecar ("Likely due to a mistake, outbound uses "envoy" while inbound uses
 * "istio-envoy""), istio/istio pilot/pkg/networking/util/proxy_headers.go
 * GetProxyHeadersFromProxyConfig. So a mesh caller sees `envoy` on every answer
 * (its own sidecar overwrites the destination's), a gateway client `istio-envoy`.
 */
export type ServerName = 'envoy' | 'istio-envoy'
export const INBOUND_SERVER: ServerName = 'istio-envoy'
export const OUTBOUND_SERVER: ServerName = 'envoy'
export const GATEWAY_SERVER: ServerName = 'istio-envoy'

/**
 * Envoy's limit on a request's headers, `max_request_headers_kb` 60 (its default, which
 * Istio keeps on every listener: envoyproxy/envoy api/envoy/config/core/v3/protocol.proto).
 * Every proxy listener takes up to this much (Node's own default is 16 KiB), so a larger
 * request reaches the app, whose own limit answers it.
 */
export const MAX_REQUEST_HEADERS_BYTES = 60 * 1024

/**
 * How long a connection closed after an answer (an early one, or a codec error's) stays
 * open for the client to finish sending and read the answer: Envoy's
 * `delayed_close_timeout` default, 1000 ms (envoyproxy/envoy api/envoy/extensions/filters/
 * network/http_connection_manager/v3/http_connection_manager.proto).
 */
export const DELAYED_CLOSE_MS = 1_000

/**
 * A request Node's parser refuses still gets an answer, as Envoy's HTTP/1 codec sends one
 * on a protocol error before closing (source/common/http/conn_manager_impl.cc
 * handleCodecError): 431 for headers over MAX_REQUEST_HEADERS_BYTES, else 400; the
 * body is the status text (CodeUtility::toString), as in Envoy's local replies.
 */
export function answerCodecErrors(server: Server, name: ServerName): void {
  const answered = new WeakSet<Duplex>()
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // Node may report the same connection again once it has been answered.
    if (answered.has(socket)) return
    if (!socket.writable) return socket.destroy()
    answered.add(socket)
    const reason = error.code === 'HPE_HEADER_OVERFLOW' ? 'Request Header Fields Too Large' : 'Bad Request'
    const status = `${reason === 'Bad Request' ? 400 : 431} ${reason}`
    socket.end(
      `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${reason.length}\r\nserver: ${name}\r\nconnection: close\r\n\r\n${reason}`,
    )
    // Drain what the client is still sending, so the answer is not lost to a reset.
    socket.resume()
    setTimeout(() => socket.destroy(), DELAYED_CLOSE_MS).unref()
  })
}

/** What the access log says of a local reply: Envoy's response code details and flags. */
interface ReplyNote {
  details: string
  flags?: readonly ResponseFlag[]
  transportFailure?: string
}

function send(res: ServerResponse, server: ServerName, status: number, body: string, note?: ReplyNote): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  noteResponse(res, { ...note, bytesSent: Buffer.byteLength(body) })
  res.writeHead(status, {
    ...(body === '' ? {} : { 'content-type': 'text/plain' }),
    'content-length': Buffer.byteLength(body),
    date: new Date().toUTCString(),
    server,
  })
  res.end(body)
}

/** An AuthorizationPolicy said no. */
export const sendRbacDenied = (res: ServerResponse, server: ServerName) =>
  // The details (the matched policy) were noted with the decision (telemetry Exchange.decided).
  send(res, server, 403, 'RBAC: access denied')

/** Why Envoy's router gave up on an upstream (Http::Utility::resetReasonToString). */
export interface UpstreamReset {
  reason: 'remote connection failure' | 'connection timeout' | 'connection termination'
  /** e.g. `delayed connect error: Connection refused`; empty when the transport gave none. */
  transportFailure: string
}

/**
 * The destination could not be reached or reset before answering. The body is
 * envoyproxy/envoy source/common/router/router.cc Filter::onUpstreamReset:
 * `upstream connect error or disconnect/reset before headers. ` then
 * `retried and the latest ` when the request was retried, then
 * `reset reason: <reason>` and `, transport failure reason: <why>` when known.
 */
export function sendUpstreamReset(
  res: ServerResponse,
  server: ServerName,
  reset: UpstreamReset,
  retried: boolean,
): void {
  send(
    res,
    server,
    503,
    `upstream connect error or disconnect/reset before headers. ${retried ? 'retried and the latest ' : ''}reset reason: ${reset.reason}${reset.transportFailure ? `, transport failure reason: ${reset.transportFailure}` : ''}`,
    // router.cc onUpstreamReset: details `upstream_reset_before_response_started{<reason>[,<transport>]}`,
    // flag UF for a connect failure or timeout, UC for a termination, and URX once the
    // retries it was entitled to are spent (Filter::maybeRetryReset, NoRetryLimitExceeded).
    {
      details: detailsText(
        `upstream_reset_before_response_started{${reset.reason}${reset.transportFailure ? `,${reset.transportFailure}` : ''}}`,
      ),
      flags: [
        reset.reason === 'connection termination' ? 'UC' : 'UF',
        ...(retried ? (['URX'] as const) : []),
      ],
      transportFailure: reset.transportFailure,
    },
  )
}

/** The cluster has no endpoint at all: Envoy's router answers `no healthy upstream` (response flag UH). */
export const sendNoHealthyUpstream = (res: ServerResponse, server: ServerName) =>
  send(res, server, 503, 'no healthy upstream', { details: 'no_healthy_upstream', flags: ['UH'] })

/** No virtual host or route: the router answers 404 with an empty body (response flag NR). */
export const sendNoRoute = (res: ServerResponse, server: ServerName) =>
  send(res, server, 404, '', { details: 'route_not_found', flags: ['NR'] })

/**
 * A request target that does not start with `/` (`*`, an authority, a URL the
 * codec did not split): 404 with an empty body, response code details
 * `absolute_path_rejected` (source/common/http/conn_manager_impl.cc, "Currently we
 * only support relative paths at the application layer").
 */
export const sendNotRelativePath = (res: ServerResponse, server: ServerName) =>
  send(res, server, 404, '', { details: 'absolute_path_rejected' })

/** A host the mesh does not know (outbound traffic policy REGISTRY_ONLY: BlackHoleCluster). */
export const sendUnknownHost = (res: ServerResponse, server: ServerName) =>
  // Istio's `block_all` virtual host answers with a direct response (pilot/pkg/networking/core/httproute.go).
  send(res, server, 502, '', { details: 'direct_response' })

/** A request Envoy would refuse to parse. */
export const sendBadRequest = (res: ServerResponse, server: ServerName) =>
  send(res, server, 400, 'Bad Request', { details: 'path_normalization_failed' })
