// The console's HTTP side: the built page (console/dist, @fastify/static)
// and a JSON API over the mesh: the policy graph, the "why" of a request,
// traffic aggregated from every proxy's Istio metrics, access-log lines and
// recent traces (an OTLP/HTTP JSON receiver at /v1/traces). Bad input is a
// problem+json answer with a stable `code`. Only loopback Host headers are
// served, so a web page cannot read the mesh's policies and logs through
// DNS rebinding.
import { existsSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import Type from 'typebox'
import type { MeshModel } from '../manifests/mesh-model.ts'
import { meshNetworkModel } from '../network/mesh-network.ts'
import { readAccessLogs } from './access-log.ts'
import { ConsoleProblem } from './console-problem.ts'
import { meshGraph } from './graph-view.ts'
import { aggregateIstioTraffic, TrafficWindow } from './istio-traffic.ts'
import { scrapeAll, scrapeTargets } from './scrape-stats.ts'
import { TraceStore } from './trace-store.ts'
import { explainRequest, GATEWAY_SOURCE, OUTSIDE_SOURCE } from './why.ts'

export interface ConsoleAppOptions {
  meshDir: string
  model: MeshModel
  /** The built page (console/dist); without it the API still answers and / explains how to build it. */
  staticDir: string
  /** Per proxy, how long a scrape may take before that proxy is reported down. */
  scrapeTimeoutMs?: number
  /** The window request rates are computed over. */
  rateWindowMs?: number
}

const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i
const NAME = Type.String({ minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' })

function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
) {
  return reply
    .status(status)
    .type('application/problem+json')
    .send({
      type: `urn:docs-mesh:problem:${code}`,
      title: STATUS_CODES[status] ?? 'Error',
      status,
      detail,
      code,
      instance: request.url.split('?')[0] ?? request.url,
    })
}

// Fastify's own errors a client can cause, as codes of ours.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_BAD_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ERR_BAD_JSON',
  FST_ERR_BAD_URL: 'ERR_BAD_REQUEST',
}

export async function buildConsoleApp(options: ConsoleAppOptions): Promise<FastifyInstance> {
  const { model, meshDir } = options
  const network = meshNetworkModel(model)
  const graph = meshGraph(model)
  const traces = new TraceStore()
  const window = new TrafficWindow(options.rateWindowMs ?? 10_000)
  const logDir = join(meshDir, 'logs')

  const app = Fastify({
    logger: false,
    // OTLP batches from busy apps can be large; anything beyond is refused with 413.
    bodyLimit: 8 * 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.setErrorHandler((error: FastifyError | ConsoleProblem, request, reply) => {
    if (error instanceof ConsoleProblem)
      return sendProblem(request, reply, error.statusCode, error.code, error.message)
    if ('validation' in error && error.validation)
      return sendProblem(request, reply, 400, 'ERR_VALIDATION', error.message)
    const mapped = 'code' in error ? FASTIFY_CODES[error.code] : undefined
    if (mapped) return sendProblem(request, reply, error.statusCode ?? 400, mapped, error.message)
    return sendProblem(
      request,
      reply,
      500,
      'ERR_INTERNAL',
      'the console failed to answer; see its process output',
    )
  })
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      request,
      reply,
      404,
      'ERR_NOT_FOUND',
      `no route for ${request.method} ${request.url.split('?')[0]}`,
    ),
  )
  app.addHook('onRequest', async (request, reply) => {
    if (!LOOPBACK_HOST.test(request.headers.host ?? ''))
      return sendProblem(request, reply, 403, 'ERR_HOST_NOT_ALLOWED', 'the console answers only to localhost')
  })
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff')
    reply.header(
      'content-security-policy',
      "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    )
  })
  // OTLP/HTTP's binary encoding is protobuf; this receiver takes the JSON one only, and says so.
  app.addContentTypeParser('application/x-protobuf', (_request, _payload, done) =>
    done(
      new ConsoleProblem(
        415,
        'ERR_OTLP_PROTOBUF_UNSUPPORTED',
        'send OTLP/HTTP with JSON encoding (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)',
      ),
    ),
  )

  app.get('/api/graph', async () => ({
    ...graph,
    sources: [
      ...model.workloads.map((w) => w.name),
      ...model.outsideWorkloads.map((w) => w.name),
      ...(model.gateways.length > 0 ? [GATEWAY_SOURCE] : []),
      OUTSIDE_SOURCE,
    ],
    destinations: model.workloads.map((w) => ({ name: w.name, ports: w.containerPorts })),
  }))

  app.get(
    '/api/why',
    {
      schema: {
        querystring: Type.Object(
          {
            from: NAME,
            to: NAME,
            method: Type.String({ minLength: 1, maxLength: 16 }),
            path: Type.String({ minLength: 1, maxLength: 2048 }),
            port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => explainRequest(model, network, request.query),
  )

  app.get('/api/traffic', async () => {
    const scraped = await scrapeAll(scrapeTargets(meshDir), options.scrapeTimeoutMs ?? 2_000)
    const at = Date.now()
    return { at, edges: window.record(at, aggregateIstioTraffic(scraped.samples)), targets: scraped.targets }
  })

  app.get(
    '/api/logs',
    {
      schema: {
        querystring: Type.Object(
          {
            workload: Type.Optional(NAME),
            denied: Type.Optional(Type.Boolean()),
            requestId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
            authority: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => ({ entries: readAccessLogs(logDir, request.query) }),
  )

  app.get(
    '/api/traces',
    {
      schema: {
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => ({ traces: traces.recent(request.query.limit) }),
  )

  app.get(
    '/api/traces/:traceId',
    { schema: { params: Type.Object({ traceId: Type.String({ pattern: '^[0-9a-f]{32}$' }) }) } },
    async (request) => {
      const spans = traces.trace(request.params.traceId)
      if (spans.length === 0)
        throw new ConsoleProblem(
          404,
          'ERR_TRACE_NOT_FOUND',
          `no spans of trace ${request.params.traceId} are kept`,
        )
      return { spans }
    },
  )

  app.post('/v1/traces', async (request, reply) => {
    if (!/^application\/json\b/i.test(request.headers['content-type'] ?? ''))
      throw new ConsoleProblem(
        415,
        'ERR_UNSUPPORTED_MEDIA_TYPE',
        'OTLP/HTTP JSON is sent as application/json',
      )
    traces.ingest(request.body)
    // OTLP/HTTP's success answer: an ExportTraceServiceResponse, empty when every span was taken.
    return reply.status(200).send({ partialSuccess: {} })
  })

  if (existsSync(join(options.staticDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: options.staticDir, prefix: '/', index: 'index.html' })
  } else {
    app.get('/', async () => {
      throw new ConsoleProblem(
        503,
        'ERR_CONSOLE_NOT_BUILT',
        'the console page is not built: run pnpm --filter @docs-mesh/console build',
      )
    })
  }
  return app
}
