// Moves one HTTP exchange from an incoming request to a pooled upstream and
// back, as Envoy's router does: hop-by-hop headers stay behind, bodies stream
// both ways, connection failures are retried while the request can be
// replayed, and an upstream that answers before the request body is in gets
// its answer relayed, after which the client connection is closed.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { PassThrough } from 'node:stream'
import type { Dispatcher } from 'undici'
import { noteResponse, responseInfo } from '../telemetry/response-info.ts'
import { type ServerName, sendUpstreamReset, type UpstreamReset } from './envoy-responses.ts'
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

/**
 * How much of a request body Envoy keeps to replay on a retry: the listener's
 * per-connection buffer limit, 32 KiB in Istio (istio/istio
 * pilot/pkg/networking/core/connection_settings.go). A longer body is streamed
 * and the request is not retried (envoyproxy/envoy source/common/router/router.cc
 * Filter::decodeData: past the buffer limit the retry state is dropped).
 */
export const RETRY_BUFFER_LIMIT = 32 * 1024

/**
 * Istio's default retry policy: 2 retries (pilot/pkg/networking/core/route/retry/retry.go
 * DefaultPolicy, `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`
 * on outbound and gateway routes; `reset-before-request` on inbound routes).
 * Over HTTP/1.1 without gRPC both come down to a connection that failed before
 * the request went out; `retriable-status-codes` has no codes in the default
 * policy, so no status (503 included) is retried.
 */
export const DEFAULT_RETRIES = 2

/**
 * How long a connection closed after an early answer stays open for the
 * client to finish sending and read the answer: Envoy's `delayed_close_timeout`
 * default, 1000 ms (envoyproxy/envoy api/envoy/extensions/filters/network/
 * http_connection_manager/v3/http_connection_manager.proto).
 */
export const DELAYED_CLOSE_MS = 1_000

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
  /** The `server` header this proxy writes over every response. */
  server: ServerName
  /** Retries of a connection failure (0 disables). */
  retries?: number
}

/** Envoy's reset reason for an undici failure (connect failures are the retriable ones). */
function resetOf(error: unknown): UpstreamReset & { connectFailure: boolean } {
  const e = error as { code?: string; cause?: { code?: string }; message?: string }
  const code = e.code ?? e.cause?.code ?? ''
  if (code === 'ECONNREFUSED')
    return {
      reason: 'remote connection failure',
      transportFailure: 'delayed connect error: Connection refused',
      connectFailure: true,
    }
  if (code === 'UND_ERR_CONNECT_TIMEOUT')
    return { reason: 'connection timeout', transportFailure: '', connectFailure: true }
  if (/certificate|SVID|ERR_TLS|SSL|handshake/i.test(`${code} ${e.message ?? ''}`))
    return {
      reason: 'remote connection failure',
      transportFailure:
        'TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end',
      connectFailure: true,
    }
  return { reason: 'connection termination', transportFailure: '', connectFailure: false }
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** The most a connection is kept draining after an early answer, however steadily the client sends. */
export const MAX_DRAIN_MS = 10_000

/**
 * After an answer that came before the whole request: Envoy marks an HTTP/1
 * connection closing (`connection: close` on the answer) when a stream ends
 * before the request is complete (source/common/http/conn_manager_impl.cc,
 * `downstream_rq_response_before_rq_complete`), then closes with
 * FlushWriteAndDelay. Here the answer is flushed and the write side ended; the
 * rest of the request is read and dropped (Node's server dumps an unread body)
 * so a client that sends everything before reading still gets the answer
 * (closing on unread data would reset the connection and lose it). The socket
 * is destroyed when the client closes, after DELAYED_CLOSE_MS without data
 * from it (Envoy restarts its timer on write progress; here on read progress,
 * the direction a slow uploader makes), and at the latest after MAX_DRAIN_MS.
 */
function closeAfterAnswer(socket: Socket): void {
  socket.destroySoon = function closeWhenClientIsDone(this: Socket) {
    this.end()
    const idle = setTimeout(() => this.destroy(), DELAYED_CLOSE_MS)
    const cap = setTimeout(() => this.destroy(), MAX_DRAIN_MS)
    const restart = () => idle.refresh()
    this.on('data', restart)
    this.once('close', () => {
      clearTimeout(idle)
      clearTimeout(cap)
      this.off('data', restart)
    })
    this.once('end', () => this.destroy())
  }
}

/** The answer is decided before the request is in: drop the rest of it and close after the answer. */
function stopReading(req: IncomingMessage, res: ServerResponse, body: Buffer | PassThrough | null): void {
  if (body instanceof PassThrough) req.unpipe(body)
  req.resume()
  // Node then writes `connection: close` and calls the socket's destroySoon after the answer.
  res.shouldKeepAlive = false
  closeAfterAnswer(req.socket)
}

export async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  options: ForwardOptions,
): Promise<void> {
  const chunked = req.headers['transfer-encoding'] !== undefined
  const length = Number(req.headers['content-length'] ?? 0)
  const hasBody = chunked || length > 0
  const replayable = !hasBody || (!chunked && length <= RETRY_BUFFER_LIMIT)
  let body: Buffer | PassThrough | null = null
  // Envoy's x-envoy-upstream-service-time counts from the moment the whole request was in.
  let requestCompleteAt: number | undefined
  if (!hasBody) {
    requestCompleteAt = performance.now()
  } else if (replayable) {
    try {
      body = await readAll(req)
    } catch {
      return void res.destroy()
    }
    requestCompleteAt = performance.now()
    const info = responseInfo(res)
    if (info) info.bytesReceived = body.length
  } else {
    // A PassThrough, not req itself: undici destroys a body it stops reading,
    // and destroying req would take the client's socket (and its answer) with it.
    const stream = new PassThrough()
    req.pipe(stream)
    req.once('end', () => {
      requestCompleteAt = performance.now()
    })
    body = stream
  }

  const retries = replayable ? (options.retries ?? 0) : 0
  let upstream: Dispatcher.ResponseData | undefined
  for (let attempt = 0; upstream === undefined; attempt++) {
    try {
      upstream = await options.dispatcher.request({
        method: req.method as Dispatcher.HttpMethod,
        path: options.path,
        headers: options.headers,
        body,
      })
    } catch (error) {
      if (isUpstreamTimeout(error)) {
        if (!req.complete) stopReading(req, res, body)
        return sendUpstreamTimeout(res, options.server)
      }
      const reset = resetOf(error)
      if (reset.connectFailure && attempt < retries) continue
      if (!req.complete) stopReading(req, res, body)
      return sendUpstreamReset(res, options.server, reset, attempt > 0)
    }
  }

  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
  }
  headers.server = options.server
  // Only for a complete request, not a premature answer (router.cc onUpstreamHeaders).
  if (requestCompleteAt !== undefined)
    headers['x-envoy-upstream-service-time'] = String(Math.round(performance.now() - requestCompleteAt))
  else delete headers['x-envoy-upstream-service-time']
  if (!req.complete) stopReading(req, res, body)
  noteResponse(res, { details: 'via_upstream' })
  res.writeHead(upstream.statusCode, headers)
  // pipe, not stream.pipeline: pipeline aborts an AbortController on every
  // finish, and each abort builds a DOMException with a stack trace, which
  // showed up as garbage-collection pauses at p99.
  const responseBody = upstream.body
  const info = responseInfo(res)
  if (info)
    responseBody.on('data', (chunk: Buffer) => {
      info.bytesSent += chunk.length
    })
  responseBody.on('error', () => res.destroy())
  res.on('close', () => {
    if (!responseBody.readableEnded) responseBody.destroy()
  })
  responseBody.pipe(res)
}
