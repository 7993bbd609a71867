// The Fastify app every service is built on: pino logs with request ids,
// helmet, TypeBox, problem+json errors, health, OpenAPI, the shared database,
// the outbound client, mesh caller identity and session checks. Services add
// their routes to what this returns; tests build it without listening.

import type { IncomingMessage, ServerResponse } from 'node:http'
import cookie from '@fastify/cookie'
import swagger from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
  type RawServerDefault,
} from 'fastify'
import { callerPlugin, principalOf } from '../caller/caller-plugin.ts'
import { clientAddressPlugin } from '../caller/client-address.ts'
import type { BaseConfig } from '../config/load-config.ts'
import { sessionPlugin } from '../session/session-plugin.ts'
import { createSessionVerifier } from '../session/verify-session.ts'
import { createUpstreamClient, type UpstreamClient } from '../upstream/upstream-client.ts'
import { databasePlugin } from './database-plugin.ts'
import { installErrorHandling, type NotFoundHandler } from './error-handler.ts'
import { refuseNonFiniteNumbers } from './finite-numbers.ts'
import { clientErrorHandler, frameworkErrors } from './framework-errors.ts'
import { healthRoutes } from './health-routes.ts'
import { compileOnFirstUse, lazySerializers } from './lazy-schema-compilers.ts'
import { prettyStream } from './pretty-logs.ts'
import { requestContextPlugin, requestIdFrom } from './request-context.ts'
import { type SecurityHeaderOptions, securityHeadersPlugin } from './security-headers.ts'
import type { ServiceDefinition } from './service-definition.ts'

export type ServiceApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>

declare module 'fastify' {
  interface FastifyInstance {
    upstream: UpstreamClient
    service: ServiceDefinition
  }
}

export interface CreateAppOptions {
  service: ServiceDefinition
  config: BaseConfig
  /** Service version for the OpenAPI document. */
  version?: string
  /** Helmet's options for the security headers; they must not depend on the request. */
  helmet?: SecurityHeaderOptions
  /** false in tests that want silence; otherwise pino at config.LOG_LEVEL. */
  logger?: boolean
  /** Where the log goes instead of stdout (tests read it). */
  logStream?: { write(line: string): void }
  /** Services this one calls, by name → base URL: each one's /health is part of readiness. */
  upstreams?: Record<string, string>
  /** What an unknown route answers; a problem+json 404 unless the service serves pages. */
  notFound?: NotFoundHandler
}

/**
 * A request as the access log shows it: single-use secrets in the query (the
 * sign-in `code` on /app and on the OIDC callback) never reach the log.
 */
export function requestForLog(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactQuery(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

const SECRET_QUERY = /([?&](?:code|state)=)[^&#]*/gi
export const redactQuery = (url: string): string => url.replace(SECRET_QUERY, '$1[redacted]')

/**
 * While the app closes, responses to requests already in flight say
 * `connection: close`, so keep-alive clients let go and close() can finish
 * instead of waiting out the keep-alive timeout.
 */
function drainOnClose(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}

export async function createServiceApp(options: CreateAppOptions): Promise<ServiceApp> {
  const { service, config } = options
  const app = Fastify({
    logger:
      options.logger === false
        ? false
        : {
            level: config.LOG_LEVEL,
            base: { service: service.name },
            redact: [
              'req.headers.authorization',
              'req.headers.cookie',
              'req.headers["x-forwarded-client-cert"]',
            ],
            serializers: { req: requestForLog },
            ...(options.logStream
              ? { stream: options.logStream }
              : config.LOG_PRETTY
                ? { stream: await prettyStream() }
                : {}),
          },
    genReqId: requestIdFrom,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    // X-Forwarded-For is never the client address: see caller/client-address.ts.
    trustProxy: false,
    connectionTimeout: 30_000,
    requestTimeout: 60_000,
    keepAliveTimeout: 75_000,
    return503OnClosing: true,
    // An unknown field is an error the client should hear about, not something to drop silently.
    ajv: {
      customOptions: { removeAdditional: false },
      ...(config.SCHEMA_COMPILE === 'lazy' ? { onCreate: compileOnFirstUse } : {}),
    },
    schemaController:
      config.SCHEMA_COMPILE === 'lazy' ? { compilersFactory: { buildSerializer: lazySerializers() } } : {},
    // Errors before routing (bad URL escapes, 414, 431) as problem+json too.
    frameworkErrors,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('service', service)
  installErrorHandling(app, options.notFound)
  drainOnClose(app)
  refuseNonFiniteNumbers(app)
  await app.register(requestContextPlugin)
  await app.register(cookie)
  await app.register(securityHeadersPlugin, {
    helmet: options.helmet ?? {
      contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    },
  })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: service.name, version: options.version ?? '0.0.0' },
      components: { securitySchemes: { session: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  })
  if (service.database) await app.register(databasePlugin, { url: config.DATABASE_URL, owns: service.owns })
  await app.register(healthRoutes, {
    service: service.name,
    database: service.database,
    groups: [...service.owns, ...service.reads],
  })

  const upstream = createUpstreamClient({
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    proxyEnv: { httpProxy: config.HTTP_PROXY, noProxy: config.NO_PROXY },
  })
  app.decorate('upstream', upstream)
  app.addHook('onClose', () => upstream.close())
  for (const [name, baseUrl] of Object.entries(options.upstreams ?? {})) {
    app.addReadinessCheck(
      name,
      async () => (await upstream.call({ method: 'GET', url: `${baseUrl}/health` })).status === 200,
    )
  }

  await app.register(clientAddressPlugin, { behindSidecar: config.MESH_SIDECAR })
  await app.register(callerPlugin, {
    self: principalOf(config.TRUST_DOMAIN, config.POD_NAMESPACE, service.serviceAccount),
    behindSidecar: config.MESH_SIDECAR,
  })
  if (service.database) {
    await app.register(sessionPlugin, {
      verify: createSessionVerifier(app.database, {
        issuer: config.SESSION_ISSUER,
        audience: config.SESSION_AUDIENCE,
      }),
    })
  }

  app.get(`${service.routePrefix}/openapi.json`, { schema: { hide: true } }, async () => app.swagger())
  return app
}
