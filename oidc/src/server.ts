// The local OpenID provider as a process (`pnpm dev` starts it outside the
// mesh, as Google is). Settings come from the environment, read here once.
import { listenLocalProvider } from './listen.ts'

const env = process.env
const port = Number(env.PORT ?? 9000)
const clientSecret = env.OIDC_CLIENT_SECRET
if (!clientSecret || clientSecret.length < 32) {
  process.stderr.write('invalid configuration: OIDC_CLIENT_SECRET is required, at least 32 characters\n')
  process.exit(78)
}
const running = await listenLocalProvider({
  host: env.HOST ?? '127.0.0.1',
  port,
  // With PORT=0 the issuer names the port the kernel chose.
  issuer: env.OIDC_ISSUER ?? ((bound) => `http://localhost:${bound}`),
  cookieKeys: [env.OIDC_COOKIE_KEY ?? clientSecret],
  clients: [
    {
      client_id: env.OIDC_CLIENT_ID ?? 'docs-mesh',
      client_secret: clientSecret,
      redirect_uris: (env.OIDC_REDIRECT_URIS ?? 'https://localhost:8443/auth/oidc/local/callback').split(','),
    },
  ],
})
process.stdout.write(`local OpenID provider: ${running.issuer}\n`)
// Under a supervisor (pnpm dev), as the apps do: report the port bound, and go when the supervisor does.
if (env.REPORT_LISTENING === 'true') {
  const address = running.server.address()
  if (address && typeof address === 'object')
    process.stdout.write(`listening ${JSON.stringify({ port: address.port })}\n`)
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => void running.close().then(() => process.exit(0)))
if (env.EXIT_ON_STDIN_CLOSE === 'true') {
  process.stdin.on('data', () => {})
  process.stdin.once('end', () => void running.close().then(() => process.exit(0)))
}
