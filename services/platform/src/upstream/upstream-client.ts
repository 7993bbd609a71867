// Calls other services. undici's EnvHttpProxyAgent honours HTTP_PROXY and
// NO_PROXY, so in a mesh the call leaves through the workload's sidecar and
// the service never knows which mesh it runs in. Nothing is retried: a
// non-idempotent call (POST /sign) must not happen twice behind our back.
import { Agent, type Dispatcher, EnvHttpProxyAgent, request } from 'undici'
import { HttpProblem } from '../errors/problem.ts'
import { childTraceparent, type TraceContext } from '../tracing/trace-context.ts'

export interface UpstreamClientOptions {
  timeoutMs: number
  /** Read HTTP_PROXY/HTTPS_PROXY/NO_PROXY from here (the validated config's copy of the environment). */
  proxyEnv?: { httpProxy?: string | undefined; noProxy?: string | undefined }
}

export interface UpstreamCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  url: string
  body?: unknown
  headers?: Record<string, string>
  /** The request this call is made on behalf of, for x-request-id and traceparent. */
  context?: { requestId: string; trace: TraceContext }
}

export interface UpstreamResponse<T> {
  status: number
  body: T
  headers: Record<string, string | string[] | undefined>
}

export interface UpstreamClient {
  call<T = unknown>(call: UpstreamCall): Promise<UpstreamResponse<T>>
  close(): Promise<void>
}

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const timeouts = {
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connectTimeout: options.timeoutMs,
  }
  const dispatcher: Dispatcher = options.proxyEnv?.httpProxy
    ? new EnvHttpProxyAgent({
        ...timeouts,
        httpProxy: options.proxyEnv.httpProxy,
        noProxy: options.proxyEnv.noProxy ?? '',
      })
    : new Agent({ ...timeouts, connect: { timeout: options.timeoutMs } })

  return {
    async call<T>(call: UpstreamCall): Promise<UpstreamResponse<T>> {
      const headers: Record<string, string> = { accept: 'application/json', ...call.headers }
      if (call.context) {
        headers['x-request-id'] = call.context.requestId
        headers.traceparent = childTraceparent(call.context.trace)
      }
      let payload: string | undefined
      if (call.body !== undefined) {
        payload = JSON.stringify(call.body)
        headers['content-type'] = 'application/json'
      }
      const target = new URL(call.url)
      try {
        const response = await request(target, { method: call.method, headers, body: payload, dispatcher })
        const text = await response.body.text()
        const type = String(response.headers['content-type'] ?? '')
        const body = (/json/.test(type) && text ? JSON.parse(text) : text) as T
        return { status: response.statusCode, body, headers: response.headers }
      } catch (error) {
        throw new HttpProblem(503, 'ERR_UPSTREAM_UNAVAILABLE', `${target.host} did not answer`, {
          cause: error,
        })
      }
    },
    close: () => dispatcher.close(),
  }
}
