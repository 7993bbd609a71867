// One error handler for every service: RFC 9457 problem+json with a stable
// `code`; a 5xx never shows its cause, only the request id to quote.
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { HttpProblem, type ProblemDocument, problemType } from '../errors/problem.ts'

// Fastify's own errors a client can cause, mapped to codes of ours.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ERR_BAD_REQUEST',
  FST_ERR_BAD_URL: 'ERR_BAD_REQUEST',
}

export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
) {
  const problem: ProblemDocument & Record<string, unknown> = {
    type: problemType(code),
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
    instance: request.url.split('?')[0] ?? request.url,
    request_id: request.id,
    ...extra,
  }
  return reply.status(status).type('application/problem+json').send(problem)
}

export type NotFoundHandler = (request: FastifyRequest, reply: FastifyReply) => unknown

export const problemNotFound: NotFoundHandler = (request, reply) =>
  sendProblem(
    request,
    reply,
    404,
    'ERR_NOT_FOUND',
    `no route for ${request.method} ${request.url.split('?')[0]}`,
  )

export function installErrorHandling(
  app: FastifyInstance,
  notFound: NotFoundHandler = problemNotFound,
): void {
  app.setErrorHandler((error: FastifyError | HttpProblem, request, reply) => {
    // An error before the body was read to its end (a malformed multipart
    // part, a limit) leaves the rest of it on the socket, where a keep-alive
    // client's next request would wait behind it forever: close instead.
    if (!request.raw.complete) reply.header('connection', 'close')
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (error instanceof HttpProblem) {
      reply.headers(error.headers)
      if (status >= 500) request.log.error({ err: error.cause ?? error, code: error.code }, error.message)
      return sendProblem(request, reply, status, error.code, error.message)
    }
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
      return sendProblem(
        request,
        reply,
        status,
        'ERR_INTERNAL',
        `internal error; quote request id ${request.id}`,
      )
    }
    if ('validation' in error && error.validation) {
      // Fastify's own validation error lists them in `validation`; Ajv's, from an `$async`
      // schema, sets `validation: true` and lists them in `errors`.
      const found: unknown = Array.isArray(error.validation)
        ? error.validation
        : (error as { errors?: unknown }).errors
      const errors = Array.isArray(found) ? (found as Array<{ instancePath?: string; message?: string }>) : []
      return sendProblem(request, reply, 400, 'ERR_VALIDATION', error.message, {
        errors: errors.map((v) => ({ path: v.instancePath || '/', message: v.message })),
      })
    }
    const code =
      (error.code && FASTIFY_CODES[error.code]) ??
      (error.code?.startsWith('ERR_') ? error.code : 'ERR_BAD_REQUEST')
    return sendProblem(request, reply, status, code, error.message)
  })

  app.setNotFoundHandler(notFound)
}
