// How long a proxy waits for its destination before it answers for it. Istio
// disables Envoy's route timeout for HTTP routes (VirtualService `timeout`,
// "Default: disabled", istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRoute),
// which leaves a hung destination to Envoy's stream idle timeout of 5 minutes
// (envoyproxy/envoy docs/root/faq/configuration/timeouts.rst). The local mesh
// bounds it instead at Envoy's own route-timeout default, 15 s (same file),
// configurable per mesh, and answers as Envoy does when a route timeout fires:
// 504 `upstream request timeout` (source/common/router/router.cc, onUpstreamTimeoutAbort).
import type { ServerResponse } from 'node:http'
import { noteResponse } from '../telemetry/response-info.ts'
import type { ServerName } from './envoy-responses.ts'

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 15_000

/** The undici pool options that bound a wait for the destination's headers and for each body chunk. */
export function upstreamTimeouts(timeoutMs: number = DEFAULT_UPSTREAM_TIMEOUT_MS) {
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new RangeError(`the upstream timeout must be a positive number of milliseconds, not ${timeoutMs}`)
  return { headersTimeout: timeoutMs, bodyTimeout: timeoutMs }
}

/** Whether a failed upstream request gave up waiting rather than failing to connect or being reset. */
export const isUpstreamTimeout = (error: unknown): boolean =>
  (error as { code?: string } | null)?.code === 'UND_ERR_HEADERS_TIMEOUT'

/** Envoy's answer when the route timeout fires before the destination's headers came. */
export function sendUpstreamTimeout(res: ServerResponse, server: ServerName): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = 'upstream request timeout'
  // Flag UT, details `upstream_response_timeout` (StreamInfo::ResponseCodeDetails UpstreamTimeout).
  noteResponse(res, { details: 'upstream_response_timeout', flags: ['UT'], bytesSent: body.length })
  res.writeHead(504, {
    'content-type': 'text/plain',
    'content-length': Buffer.byteLength(body),
    date: new Date().toUTCString(),
    server,
  })
  res.end(body)
}
