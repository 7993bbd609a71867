// Moves one HTTP exchange from an incoming request to a pooled upstream and
// back. Hop-by-hop headers stay behind; the body streams both ways.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import { sendUpstreamUnavailable } from './envoy-responses.ts'
import { isUpstreamTimeout, sendUpstreamTimeout } from './upstream-timeout.ts'

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
])

export function endToEndHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const listed = String(headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.includes(name)) continue
    out[name] = value
  }
  return out
}

export interface ForwardOptions {
  dispatcher: Dispatcher
  path: string
  headers: Record<string, string | string[]>
}

export async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  options: ForwardOptions,
): Promise<void> {
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
  let upstream: Dispatcher.ResponseData
  try {
    upstream = await options.dispatcher.request({
      method: req.method as Dispatcher.HttpMethod,
      path: options.path,
      headers: options.headers,
      body: hasBody ? req : null,
    })
  } catch (error) {
    if (isUpstreamTimeout(error)) return sendUpstreamTimeout(res)
    sendUpstreamUnavailable(
      res,
      /ECONNREFUSED|connect/i.test(String((error as Error).message)) ? 'connection failure' : 'remote reset',
    )
    return
  }
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
  }
  headers.server = 'istio-envoy'
  res.writeHead(upstream.statusCode, headers)
  // pipe, not stream.pipeline: pipeline aborts an AbortController on every
  // finish, and each abort builds a DOMException with a stack trace, which
  // showed up as garbage-collection pauses at p99.
  const body = upstream.body
  body.on('error', () => res.destroy())
  res.on('close', () => {
    if (!body.readableEnded) body.destroy()
  })
  body.pipe(res)
}
