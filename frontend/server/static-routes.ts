// Serves the Vite build: hashed files under /assets cached for a year (their
// names change with their content), the HTML never cached, and the HTML for
// any other page a browser asks for, so the app's own routes load on refresh.
// Not encapsulated: the not-found handler at the root sends the HTML too.
import { resolve } from 'node:path'
import { type NotFoundHandler, problemNotFound } from '@docs-mesh/platform'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyReply } from 'fastify'
import fp from 'fastify-plugin'

export const staticRoutes = fp<{ root: string }>(async (app: FastifyInstance, options) => {
  const root = resolve(options.root)
  await app.register(fastifyStatic, {
    root: resolve(root, 'assets'),
    prefix: '/assets/',
    wildcard: true,
    index: false,
    // A folder is not a file: /assets/ is a 404 like any missing asset, not send's 403.
    allowedPath: (pathName: string) => !pathName.endsWith('/'),
    cacheControl: false,
    setHeaders(reply: FastifyReply, path: string) {
      reply.header(
        'cache-control',
        path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable',
      )
    },
  })
  app.get('/', { schema: { hide: true } }, (_request, reply) => reply.sendFile('index.html', root))
})

/** Unknown GETs from a browser get the app (it routes on the client); anything else a problem+json 404. */
export const pageFallback =
  (root: string): NotFoundHandler =>
  (request, reply) => {
    const wantsPage =
      request.method === 'GET' &&
      !request.url.startsWith('/assets/') &&
      /text\/html/.test(request.headers.accept ?? '')
    if (!wantsPage) return problemNotFound(request, reply)
    return reply.sendFile('index.html', resolve(root))
  }
