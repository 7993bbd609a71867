// The settings every service shares; each service adds its own beside them.
import Type from 'typebox'

export const BaseConfigSchema = Type.Object({
  /** Where the app listens; loopback only when MESH_SIDECAR is set (the sidecar is its one way in). */
  HOST: Type.String({ default: '127.0.0.1' }),
  /**
   * true when a mesh sidecar fronts this app (the local mesh, Istio): only then does the app take the
   * caller's identity from x-forwarded-client-cert and the client address from x-envoy-external-address,
   * headers the sidecar sets. Unset (docker compose, a bare process), both headers are refused or ignored.
   */
  MESH_SIDECAR: Type.Boolean({ default: false }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  LOG_PRETTY: Type.Boolean({ default: false }),
  /**
   * When each route's schemas are compiled: `eager`, as Fastify does, when the route is registered
   * (a schema that cannot compile stops the start); `lazy` (`pnpm dev`), on the route's first use
   * (app/lazy-schema-compilers.ts).
   */
  SCHEMA_COMPILE: Type.Enum(['eager', 'lazy'], { default: 'eager' }),
  /** A postgres:// URL selects PostgreSQL; anything else is a SQLite file path. */
  DATABASE_URL: Type.String({ default: '.data/docs-mesh.sqlite', minLength: 1 }),
  TRUST_DOMAIN: Type.String({ default: 'cluster.local', pattern: '^[a-z0-9._-]+$' }),
  POD_NAMESPACE: Type.String({ default: 'docs', pattern: '^[a-z0-9-]+$' }),
  SHUTDOWN_GRACE_MS: Type.Integer({ default: 10_000, minimum: 0 }),
  UPSTREAM_TIMEOUT_MS: Type.Integer({ default: 5_000, minimum: 1 }),
  SESSION_ISSUER: Type.String({ default: 'https://localhost:8443/auth' }),
  SESSION_AUDIENCE: Type.String({ default: 'docs-mesh' }),
  /** Where the app serves its Prometheus metrics (`prometheus.io/port`); unset: no metrics endpoint. */
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65_535 })),
  /** Where the app's spans go (OTLP/HTTP); unset: no tracer is loaded. */
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  OTEL_SERVICE_NAME: Type.String({ default: 'docs-mesh-app' }),
  /** Set by the mesh (or by hand) to send mesh calls through the workload's sidecar. */
  HTTP_PROXY: Type.Optional(Type.String({ pattern: '^https?://' })),
  NO_PROXY: Type.Optional(Type.String()),
  /**
   * Under a supervisor (`pnpm dev`): print `listening {"port":N}` on stdout once listening, so PORT
   * may be 0 and the supervisor learns the port the kernel chose instead of handing out one it guessed free.
   */
  REPORT_LISTENING: Type.Boolean({ default: false }),
  /** Under a supervisor: exit when stdin closes, which it does when the supervisor dies, even by SIGKILL. */
  EXIT_ON_STDIN_CLOSE: Type.Boolean({ default: false }),
})
