// The local OpenID provider as a process (`pnpm dev` starts it outside the
// mesh, as Google is). Settings come from the environment, read here once.
import { createServer } from 'node:http'
import { handleInteraction } from './interactions.ts'
import { createLocalProvider } from './provider.ts'
import { SEEDED_USERS } from './users.ts'

const env = process.env
const port = Number(env.PORT ?? 9000)
const issuer = env.OIDC_ISSUER ?? `http://localhost:${port}`
const clientSecret = env.OIDC_CLIENT_SECRET
if (!clientSecret || clientSecret.length < 32) {
  process.stderr.write('invalid configuration: OIDC_CLIENT_SECRET is required, at least 32 characters\n')
  process.exit(78)
}
const provider = createLocalProvider({
  issuer,
  users: SEEDED_USERS,
  cookieKeys: [env.OIDC_COOKIE_KEY ?? clientSecret],
  clients: [
    {
      client_id: env.OIDC_CLIENT_ID ?? 'docs-mesh',
      client_secret: clientSecret,
      redirect_uris: (env.OIDC_REDIRECT_URIS ?? 'https://localhost:8443/auth/oidc/local/callback').split(','),
    },
  ],
})
const callback = provider.callback()
const server = createServer((req, res) => {
  void handleInteraction(provider, SEEDED_USERS, req, res).then((handled) => {
    if (!handled) callback(req, res)
  })
})
server.listen(port, env.HOST ?? '127.0.0.1', () => process.stdout.write(`local OpenID provider: ${issuer}\n`))
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => server.close(() => process.exit(0)))
