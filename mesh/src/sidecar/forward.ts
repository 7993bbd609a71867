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
import {
  DELAYED_CLOSE_MS,
  type ServerName,
  sendUpstreamReset,
  type UpstreamReset,
} from './envoy-responses.ts'
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
 * The request's end-to-end headers: hop-by-hop ones and any the `connection`
 * header names stay behind (RFC 9110 section 7.6.1). A plain loop over the
 * parsed headers: this runs for every request on every proxy.
 *
 * `expect` stays behind too. Node's server has already answered `Expect:
 * 100-continue` with a 100 (and any other expectation with a 417), as Envoy
 * does without `proxy_100_continue`, and removes the header "so it won't be
 * handled again upstream" (envoyproxy/envoy source/common/http/conn_manager_impl.cc,
 * decodeHeaders). undici refuses to send it at all: forwarded, every request
 * with it (curl adds it to any body over 1 MiB) was a 503.
 */
export function endToEndHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  const connection = headers.connection
  const listed = connection ? connection.split(',').map((h) => h.trim().toLowerCase()) : null
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'expect' || listed?.includes(name)) continue
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

/**
 * A body the proxy keeps for a retry (at most RETRY_BUFFER_LIMIT bytes), read
 * with plain events: an async iterator would cost a promise per chunk and an
 * iterator object per request. Most such bodies arrive with their headers and
 * are whole by the next turn of the event loop: `whole` is called with the
 * body, and the request goes upstream as one buffer. One still coming then is
 * passed on as it arrives, as Envoy streams a request while it keeps its copy
 * (waiting for it would keep the request from the destination, and the
 * destination's own answer from the client, for as long as the client
 * stalls): `streaming` gets a stream of it and `replay`, which resolves to the
 * whole body once it is in, for a retry.
 */
function readReplayable(
  req: IncomingMessage,
  whole: (body: Buffer | null) => void,
  streaming: (stream: PassThrough, replay: () => Promise<Buffer | null>) => void,
): void {
  const chunks: Buffer[] = []
  let stream: PassThrough | null = null
  let ended = false
  let failed = false
  const done = Promise.withResolvers<void>()
  req.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    // Not once the exchange is over (an early answer, a failed attempt): the copy still grows.
    if (stream && !stream.destroyed) stream.write(chunk)
  })
  req.once('end', () => {
    ended = true
    done.resolve()
    if (stream) {
      if (!stream.destroyed) stream.end()
    } else whole(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks))
  })
  req.once('error', () => {
    failed = true
    done.resolve()
    if (stream) stream.destroy()
    else whole(null)
  })
  setImmediate(() => {
    if (ended || failed) return
    stream = new PassThrough()
    for (const chunk of chunks) stream.write(chunk)
    streaming(stream, () => done.promise.then(() => (failed ? null : Buffer.concat(chunks))))
  })
}

/**
 * The body's bytes as they arrive, for the access log's bytes received (Envoy's
 * %BYTES_RECEIVED%): a client that stops short of its content-length sent less.
 */
function countReceived(req: IncomingMessage, res: ServerResponse): void {
  const info = responseInfo(res)
  if (!info) return
  let received = 0
  info.bytesReceived = 0
  req.on('data', (chunk: Buffer) => {
    received += chunk.length
    info.bytesReceived = received
  })
}

/**
 * Forwards one request and relays its answer. Errors never escape: whatever
 * happens upstream, the client gets Envoy's answer or a closed connection.
 */
export function forward(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): void {
  const chunked = req.headers['transfer-encoding'] !== undefined
  const length = Number(req.headers['content-length'] ?? 0)
  const hasBody = chunked || length > 0
  if (!hasBody) {
    new Upstream(req, res, options, null, performance.now(), options.retries ?? 0).send()
    return
  }
  countReceived(req, res)
  if (!chunked && length <= RETRY_BUFFER_LIMIT) {
    readReplayable(
      req,
      (body) => {
        if (body === null) return void res.destroy()
        new Upstream(req, res, options, body, performance.now(), options.retries ?? 0).send()
      },
      (stream, replay) => {
        const upstream = new Upstream(req, res, options, stream, undefined, options.retries ?? 0, replay)
        req.once('end', () => {
          upstream.requestCompleteAt = performance.now()
        })
        upstream.send()
      },
    )
    return
  }
  // A PassThrough, not req itself: undici destroys a body it stops reading,
  // and destroying req would take the client's socket (and its answer) with it.
  const stream = new PassThrough()
  req.pipe(stream)
  const upstream = new Upstream(req, res, options, stream, undefined, 0)
  req.once('end', () => {
    upstream.requestCompleteAt = performance.now()
  })
  upstream.send()
}

/**
 * One exchange with the upstream, as undici's dispatch handler: the answer is
 * written straight into the client's response as it arrives, with no
 * intermediate body stream, promise or pipe per request (undici's `request()`
 * builds all three; on a proxy that moves every request twice they were a
 * large share of its CPU and garbage).
 */
class Upstream implements Dispatcher.DispatchHandler {
  /** Envoy's x-envoy-upstream-service-time counts from the moment the whole request was in. */
  requestCompleteAt: number | undefined
  #attempt = 0
  #answered = false
  #ended = false
  readonly #req: IncomingMessage
  readonly #res: ServerResponse
  readonly #options: ForwardOptions
  #body: Buffer | PassThrough | null
  readonly #retries: number
  /** For a kept body that was streamed: the whole of it, once in, to send again. */
  readonly #replay: (() => Promise<Buffer | null>) | undefined

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    options: ForwardOptions,
    body: Buffer | PassThrough | null,
    requestCompleteAt: number | undefined,
    retries: number,
    replay?: () => Promise<Buffer | null>,
  ) {
    this.#req = req
    this.#res = res
    this.#options = options
    this.#body = body
    this.requestCompleteAt = requestCompleteAt
    this.#retries = retries
    this.#replay = replay
  }

  send(): void {
    this.#options.dispatcher.dispatch(
      {
        method: this.#req.method as Dispatcher.HttpMethod,
        path: this.#options.path,
        headers: this.#options.headers,
        body: this.#body,
      },
      this,
    )
  }

  /** undici requires it; nothing to do until the answer starts. */
  onRequestStart(): void {}

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    upstreamHeaders: IncomingHttpHeaders,
  ): void {
    // An interim answer (100 Continue) is the upstream's business with this proxy.
    if (statusCode < 200) return
    const req = this.#req
    const res = this.#res
    // The client is gone: stop the upstream exchange too.
    if (res.destroyed) {
      controller.abort(new Error('the downstream connection closed'))
      return
    }
    this.#answered = true
    const headers: Record<string, string | string[]> = {}
    for (const name in upstreamHeaders) {
      const value = upstreamHeaders[name]
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
    }
    headers.server = this.#options.server
    // Only for a complete request, not a premature answer (router.cc onUpstreamHeaders).
    if (this.requestCompleteAt !== undefined)
      headers['x-envoy-upstream-service-time'] = String(
        Math.round(performance.now() - this.requestCompleteAt),
      )
    else delete headers['x-envoy-upstream-service-time']
    if (!req.complete) stopReading(req, res, this.#body)
    noteResponse(res, { details: 'via_upstream' })
    res.writeHead(statusCode, headers)
    // A client that goes away mid-answer takes the upstream exchange with it.
    res.once('close', () => {
      if (!this.#ended) controller.abort(new Error('the downstream connection closed'))
    })
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const info = responseInfo(this.#res)
    if (info) info.bytesSent += chunk.length
    // Back-pressure: a slow client pauses the upstream connection until it drains.
    if (!this.#res.write(chunk)) {
      controller.pause()
      this.#res.once('drain', () => controller.resume())
    }
  }

  onResponseEnd(): void {
    this.#ended = true
    this.#res.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const req = this.#req
    const res = this.#res
    // Mid-answer: the client's connection is reset, as Envoy resets the stream.
    if (this.#answered) return void res.destroy()
    const timedOut = isUpstreamTimeout(error)
    const reset = resetOf(error)
    if (!timedOut && reset.connectFailure && this.#attempt < this.#retries && !res.destroyed) {
      this.#attempt++
      if (this.#replay && !Buffer.isBuffer(this.#body)) {
        // The streamed body went with the failed attempt: send the kept copy once it is whole.
        void this.#replay().then((body) => {
          if (body === null || res.destroyed) return void res.destroy()
          this.#body = body
          this.send()
        })
        return
      }
      this.send()
      return
    }
    if (!req.complete) stopReading(req, res, this.#body)
    if (timedOut) sendUpstreamTimeout(res, this.#options.server)
    else sendUpstreamReset(res, this.#options.server, reset, this.#attempt > 0)
  }
}
