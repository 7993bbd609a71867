// What Fastify and Node's HTTP server answer before a route ever runs, as
// problem+json like every other error: a URL the router cannot decode
// (FST_ERR_BAD_URL), a path parameter over maxParamLength (414), and what the
// HTTP parser refuses on the socket itself (431 headers too large, 400
// malformed request, 408 too slow), which Fastify would answer as plain JSON.
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import { problemType } from '../errors/problem.ts'
import { sendProblem } from './error-handler.ts'

const ROUTER_ERRORS: Record<string, { status: number; code: string; detail: string }> = {
  FST_ERR_BAD_URL: { status: 400, code: 'ERR_BAD_URL', detail: 'the URL has a malformed percent-escape' },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: 'ERR_URI_TOO_LONG',
    detail: 'a path segment of the URL is too long',
  },
}

/** Fastify's `frameworkErrors`: router errors become problem+json through the shared sender. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const known = ROUTER_ERRORS[error.code] ?? {
    status: error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400,
    code: 'ERR_BAD_REQUEST',
    detail: 'the request could not be routed',
  }
  void sendProblem(request, reply, known.status, known.code, known.detail)
}

const PARSER_ERRORS: Record<string, { status: number; code: string; detail: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'ERR_HEADERS_TOO_LARGE',
    detail: 'the request headers are larger than the server accepts',
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'ERR_REQUEST_TIMEOUT', detail: 'the request took too long' },
  ERR_HTTP_HEADERS_TIMEOUT: { status: 408, code: 'ERR_REQUEST_TIMEOUT', detail: 'the headers took too long' },
}

/**
 * Fastify's `clientErrorHandler` (Node's `clientError` event): no request
 * object exists yet, so the response is written to the socket as Node's own
 * answer would be, then the socket is closed (the parser cannot go on).
 */
export const clientErrorHandler: NonNullable<FastifyServerOptions['clientErrorHandler']> = (
  error: Error & { code?: string },
  socket: Socket,
) => {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const known = PARSER_ERRORS[error.code ?? ''] ?? {
    status: 400,
    code: 'ERR_BAD_REQUEST',
    detail: 'the request is not valid HTTP/1.1',
  }
  if (socket.writable) {
    const body = JSON.stringify({
      type: problemType(known.code),
      title: STATUS_CODES[known.status],
      status: known.status,
      detail: known.detail,
      code: known.code,
    })
    socket.write(
      `HTTP/1.1 ${known.status} ${STATUS_CODES[known.status]}\r\n` +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    )
  }
  socket.destroy(error)
}
