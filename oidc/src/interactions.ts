// The provider's login form: GET /interaction/:uid shows it, POST signs the
// user in and grants what the (first-party) client asked for. A consent
// prompt on its own is granted the same way: every client here is ours.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type Provider from 'oidc-provider'
import { authenticate, type LocalUser } from './users.ts'

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

// The form posts here, and its answer redirects (through the provider) to the
// client: browsers apply form-action to those redirects too, so the clients'
// origins are allowed beside 'self'.
function page(
  res: ServerResponse,
  status: number,
  uid: string,
  formTargets: readonly string[],
  error?: string,
): void {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · docs-mesh local provider</title></head>
<body><main>
<h1>Sign in</h1>
<p>The local OpenID provider of docs-mesh (development only): alice, bob or carol, password <code>&lt;name&gt;-local-password</code>.</p>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<p><label for="username">Username</label> <input id="username" name="username" autocomplete="username" required autofocus></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form></main></body></html>`
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; form-action 'self' ${formTargets.join(' ')}; frame-ancestors 'none'`,
  })
  res.end(body)
}

async function readForm(req: IncomingMessage, limit = 10_000): Promise<URLSearchParams> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new Error('form too large')
    chunks.push(chunk as Buffer)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

async function grantRequested(
  provider: Provider,
  req: IncomingMessage,
  res: ServerResponse,
  accountId: string,
): Promise<void> {
  const details = await provider.interactionDetails(req, res)
  const { prompt, params } = details
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id as string })
  if (!grant) throw new Error('grant not found')
  const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] }
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
  const grantId = await grant.save()
  const result =
    prompt.name === 'login' ? { login: { accountId }, consent: { grantId } } : { consent: { grantId } }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true })
}

/** Handles /interaction/* requests; returns false for anything else. */
export async function handleInteraction(
  provider: Provider,
  users: readonly LocalUser[],
  req: IncomingMessage,
  res: ServerResponse,
  formTargets: readonly string[] = [],
): Promise<boolean> {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec((req.url ?? '').split('?')[0] ?? '')
  if (!match) return false
  const uid = match[1] as string
  try {
    const details = await provider.interactionDetails(req, res)
    if (req.method === 'GET' && !match[2]) {
      if (details.prompt.name === 'consent' && details.session?.accountId)
        await grantRequested(provider, req, res, details.session.accountId)
      else page(res, 200, uid, formTargets)
      return true
    }
    if (req.method === 'POST' && match[2]) {
      const form = await readForm(req)
      const user = authenticate(users, form.get('username') ?? '', form.get('password') ?? '')
      if (!user) page(res, 401, uid, formTargets, 'Wrong username or password.')
      else await grantRequested(provider, req, res, user.sub)
      return true
    }
    res.writeHead(405, { allow: 'GET, POST' }).end()
  } catch (error) {
    res
      .writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
      .end(`sign-in failed: ${(error as Error).message}`)
  }
  return true
}
