// The console API's one error type: an RFC 9457 problem+json answer with a
// stable `code` the page (or a script) can branch on.
export class ConsoleProblem extends Error {
  readonly statusCode: number
  readonly code: string

  constructor(statusCode: number, code: string, detail: string) {
    super(detail)
    this.statusCode = statusCode
    this.code = code
    this.name = 'ConsoleProblem'
  }
}
