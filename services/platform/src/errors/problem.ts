// The one error type services throw on purpose: it becomes an RFC 9457
// problem+json response with a stable `code` a client can branch on.

export class HttpProblem extends Error {
  readonly statusCode: number
  readonly code: string
  readonly headers: Record<string, string>

  constructor(
    statusCode: number,
    code: string,
    detail: string,
    options?: { headers?: Record<string, string>; cause?: unknown },
  ) {
    super(detail, { cause: options?.cause })
    this.name = 'HttpProblem'
    this.statusCode = statusCode
    this.code = code
    this.headers = options?.headers ?? {}
  }
}

export interface ProblemDocument {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance: string
  request_id: string
}

export const problemType = (code: string): string => `urn:docs-mesh:problem:${code}`
