// A property-based fuzz of the public routes through the gateway of a whole
// system (started as pnpm dev starts it): 3,000 requests of two kinds. Half
// are hostile from the ground up (well-formed JSON with wrong types, long
// strings, odd methods and headers, percent-escapes in paths, broken
// multipart), some signed in. The other half are requests a browser would
// send, made from the system's real users, keys and a sealed file, with one
// field replaced by a hostile value or left out: these get past the schema
// into the handlers (signature checks, key validation, the upload's field
// parser, the MFA budget), where random inputs rarely reach. It fails on any
// 5xx, on an error from an API that is not problem+json, on any request not
// answered in time (a hung socket), and if the well-formed half stops at the
// schema validator. Envoy's own answers (403 RBAC, 404 no route) are the
// gateway's, not an API's, and keep their text/plain form as Envoy's do.
// Methods Node's parser does not know (FOO) get the gateway's codec answer,
// 400 `Bad Request`, as Envoy's HTTP/1 codec gives it.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeKeyPairs, publicJwk, sealFile } from '@docs-mesh/frontend/crypto'
import { type RunningSystem, startThrowawaySystem } from '@docs-mesh/mesh/system'
import fc from 'fast-check'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SignedInUser, signInUsers } from '../src/signed-in-users.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BATCH = 50
const RUNS = 60 // BATCH × RUNS = 3,000 requests
const IN_FLIGHT = 8
const REQUEST_TIMEOUT_MS = 15_000

interface FuzzRequest {
  method: string
  path: string
  headers: Record<string, string>
  body?: string | Buffer
  auth: 'none' | 'user' | 'admin' | 'keys' | 'garbage'
  /** Set on a well-formed request with one field mutated: which template it came from. */
  template?: TemplateName
}

/** Requests a browser would send, from the running system's real users and keys. */
type TemplateName = 'upload' | 'verify' | 'register-keys' | 'mfa-verify' | 'revoke-key'
interface Template {
  method: string
  path: string
  auth: FuzzRequest['auth']
  /** JSON fields, or multipart fields sent with the sealed ciphertext. */
  fields: Record<string, unknown>
  multipart?: Uint8Array
}

const odd = fc.oneof(
  fc.constantFrom(
    '%',
    '%zz',
    '%00',
    '%2e%2e',
    '%2F',
    '%C0%AF',
    '..',
    '%25',
    '%E2%80%AE',
    '%ff%fe',
    '~',
    "'",
    '"',
    '<script>',
    '1e309',
    'Infinity',
    '-1',
    'null',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ minLength: 200, maxLength: 3_000 }).map((s) => encodeURIComponent(s).slice(0, 3_000)),
  fc.uuid(),
)

const ROUTES = [
  '/buckets',
  '/buckets/{}',
  '/buckets/{}/claim',
  '/buckets/{}/content',
  '/buckets/recipients',
  '/auth/me',
  '/auth/keys',
  '/auth/logout',
  '/auth/session/renew',
  '/auth/mfa/enroll',
  '/auth/mfa/verify',
  '/auth/providers',
  '/auth/oidc/{}/login',
  '/auth/oidc/{}/callback',
  '/auth/.well-known/jwks.json',
  '/verify',
  '/verify/keys',
  '/verify/keys/{}',
  '/admin/users',
  '/admin/users/{}/disable',
  '/admin/users/{}/sessions/revoke',
  '/admin/audit',
  '/admin/audit/verify',
  '/admin/stats',
  '/admin/keys/{}/revoke',
  '/session',
  '/',
  '/assets/{}',
  '/{}',
]

const queryValue = fc.oneof(
  fc.constantFrom(
    '1e309',
    'Infinity',
    '-Infinity',
    'NaN',
    '-1',
    '0',
    '101',
    '1.5',
    '',
    '%',
    'inbox',
    'outbox',
  ),
  fc.integer().map(String),
  odd,
)
const query = fc
  .array(
    fc.tuple(
      fc.constantFrom('limit', 'offset', 'cursor', 'box', 'q', 'email', 'code', 'state', 'x', 'limit[]'),
      queryValue,
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''))

const wrongValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constant(1e308),
  fc.string({ maxLength: 20 }),
  fc.string({ minLength: 5_000, maxLength: 20_000 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
  fc.constantFrom('ab'.repeat(32), 'AAAA', 'not base64url!', '../../etc/passwd', 'a@b.c', '__proto__'),
)
const FIELDS = [
  'sha256',
  'signature',
  'key_id',
  'code',
  'signing_key',
  'encryption_key',
  'recipient',
  'email',
  'token',
  'reason',
  'size',
  'expires_in_days',
  '__proto__',
  'constructor',
]
const jsonBody = fc.oneof(
  fc.dictionary(fc.constantFrom(...FIELDS), wrongValue, { maxKeys: 6 }).map((o) => JSON.stringify(o)),
  fc.constantFrom(
    '{',
    '[]',
    'null',
    '"x"',
    '{"sha256":1e309}',
    '{"__proto__":{"x":1}}',
    ' ',
    '{}'.repeat(100),
  ),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
)

const BOUNDARY = 'fuzzboundary'
const multipartBody = fc.oneof(
  fc.constantFrom(
    'abc',
    '',
    `--${BOUNDARY}\r\nno colon\r\n\r\nx\r\n--${BOUNDARY}--\r\n`,
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="size"\r\n\r\n1e309\r\n--${BOUNDARY}--\r\n`,
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="__proto__"\r\n\r\nx\r\n--${BOUNDARY}--\r\n`,
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="ciphertext"; filename="c"\r\n\r\nshort`,
  ),
  fc
    .array(
      fc.tuple(fc.constantFrom(...FIELDS, 'ciphertext', 'iv', 'hpke_enc'), fc.string({ maxLength: 200 })),
      {
        maxLength: 14,
      },
    )
    .map(
      (parts) =>
        `${parts
          .map(
            ([name, value]) =>
              `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
          )
          .join('')}--${BOUNDARY}--\r\n`,
    ),
)

const contentBody = fc.oneof(
  jsonBody.map((body) => ({ type: 'application/json', body })),
  multipartBody.map((body) => ({ type: `multipart/form-data; boundary=${BOUNDARY}`, body })),
  multipartBody.map((body) => ({ type: 'multipart/form-data', body })),
  fc.string({ maxLength: 200 }).map((body) => ({ type: 'text/plain', body })),
  fc.string({ maxLength: 200 }).map((body) => ({ type: 'application/x-www-form-urlencoded', body })),
  jsonBody.map((body) => ({ type: 'application/json; charset=utf-16', body })),
  fc.constant({ type: '', body: undefined as string | undefined }),
)

const oddHeaders = fc.dictionary(
  fc.constantFrom(
    'accept',
    'x-request-id',
    'x-forwarded-client-cert',
    'x-forwarded-for',
    'cookie',
    'x-csrf-token',
    'origin',
    'range',
    'if-none-match',
    'accept-encoding',
    'traceparent',
  ),
  fc.oneof(
    fc.constantFrom('text/html', '*/*', 'application/json', 'bytes=0-1', 'bytes=5-1', 'gzip, br', 'null'),
    fc.string({ maxLength: 100 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    fc.string({ minLength: 1_000, maxLength: 4_000 }).map((s) => s.replace(/[^\x20-\x7e]/g, 'a')),
    // Past Node's 16 KiB, within Envoy's 60 KiB even three times over: the app answers, not a
    // proxy on the way (the sidecars once kept Node's limit and answered a bodiless 431).
    fc.integer({ min: 17_000, max: 18_000 }).map((n) => 'h'.repeat(n)),
  ),
  { maxKeys: 3 },
)

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method: fc.constantFrom(
      'FOO',
      'GET',
      'GET',
      'POST',
      'POST',
      'PUT',
      'PATCH',
      'DELETE',
      'HEAD',
      'OPTIONS',
      'PROPFIND',
      'TRACE',
    ),
    route: fc.constantFrom(...ROUTES),
    param: odd,
    query,
    content: contentBody,
    headers: oddHeaders,
    auth: fc.constantFrom('none', 'user', 'admin', 'garbage'),
  })
  .map(({ method, route, param, query, content, headers, auth }) => {
    const withBody = !['GET', 'HEAD'].includes(method) && content.body !== undefined
    return {
      method,
      path: route.replace('{}', param) + query,
      headers: { ...headers, ...(withBody && content.type ? { 'content-type': content.type } : {}) },
      body: withBody ? content.body : undefined,
      auth: auth as FuzzRequest['auth'],
    }
  })

/** One field of a template replaced by a hostile value, or left out. */
const mutation = fc.record({
  template: fc.constantFrom<TemplateName>('upload', 'verify', 'register-keys', 'mfa-verify', 'revoke-key'),
  field: fc.nat(),
  how: fc.constantFrom('replace', 'replace', 'drop'),
  value: wrongValue,
})

function multipartOf(fields: Record<string, unknown>, ciphertext: Uint8Array): Buffer {
  const parts = Object.entries(fields).map(
    ([name, value]) =>
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${typeof value === 'string' ? value : JSON.stringify(value)}\r\n`,
  )
  return Buffer.concat([
    Buffer.from(
      `${parts.join('')}--${BOUNDARY}\r\nContent-Disposition: form-data; name="ciphertext"; filename="c"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    ciphertext,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ])
}

function mutated(
  templates: Record<TemplateName, Template>,
  m: typeof mutation extends fc.Arbitrary<infer T> ? T : never,
): FuzzRequest {
  const t = templates[m.template]
  const names = Object.keys(t.fields)
  const name = names[m.field % names.length] as string
  const fields = { ...t.fields }
  if (m.how === 'drop') delete fields[name]
  else fields[name] = m.value
  // `signing_key.x` is the member x of the object signing_key.
  const json: Record<string, Record<string, unknown> | unknown> = {}
  for (const [key, value] of Object.entries(fields)) {
    const [outer, inner] = key.split('.') as [string, string | undefined]
    if (inner === undefined) json[outer] = value
    else json[outer] = { ...(json[outer] as Record<string, unknown> | undefined), [inner]: value }
  }
  return {
    method: t.method,
    path: t.path,
    auth: t.auth,
    template: m.template,
    ...(t.multipart
      ? {
          headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
          body: multipartOf(fields, t.multipart),
        }
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
  }
}

/**
 * Envoy's own answers at the gateway (envoy-responses.ts): RBAC denial, no route, a request
 * its codec refuses. Not a 431: three odd headers stay under Envoy's 60 KiB.
 */
const isEnvoyAnswer = (status: number, headers: Record<string, unknown>, body: string) =>
  headers.server === 'istio-envoy' &&
  ((status === 403 && body === 'RBAC: access denied') ||
    (status === 404 && body === '') ||
    (status === 400 && body === 'Bad Request'))

describe('fuzz of the public routes through the gateway', () => {
  let system: RunningSystem & { dir: string }
  let gateway: Agent
  let user: SignedInUser
  let admin: SignedInUser
  /** Registers keys (a mutation may leave them valid): user's and admin's stay current for the uploads. */
  let keyOwner: SignedInUser
  let templates: Record<TemplateName, Template>
  /** Per template, the problem codes (or statuses) its mutated requests were answered with. */
  const answers = new Map<TemplateName, Set<string>>()

  beforeAll(async () => {
    system = await startThrowawaySystem({ root: ROOT, log: () => {} })
    gateway = new Agent({
      connect: { ca: readFileSync(join(system.dir, 'mesh', 'ca', 'root-cert.pem')) },
      connections: IN_FLIGHT,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    })
    ;[user] = (await signInUsers(system, gateway, ['fuzz'], { ttlSeconds: 3_600 })) as [SignedInUser]
    ;[admin] = (await signInUsers(system, gateway, ['fuzz-admin'], { ttlSeconds: 3_600, role: 'admin' })) as [
      SignedInUser,
    ]
    ;[keyOwner] = (await signInUsers(system, gateway, ['fuzz-keys'], { ttlSeconds: 3_600 })) as [SignedInUser]
    // A file the user seals for the admin, as the browser does: every field right.
    const sealed = await sealFile({
      plaintext: new TextEncoder().encode('fuzz'),
      filename: 'fuzz.txt',
      contentType: 'text/plain',
      recipient: admin.email,
      recipientKey: admin.encryption,
      signingKey: user.keys.signing.privateKey,
      signingKeyId: user.signing.key_id,
    })
    const fresh = await makeKeyPairs()
    const flat = (prefix: string, jwk: object) =>
      Object.fromEntries(Object.entries(jwk).map(([k, v]) => [`${prefix}.${k}`, v]))
    templates = {
      upload: {
        method: 'POST',
        path: '/buckets',
        auth: 'user',
        fields: sealed.fields,
        multipart: sealed.ciphertext,
      },
      // The sender's signature over the file's digest: a valid one, before the mutation.
      verify: {
        method: 'POST',
        path: '/verify',
        auth: 'none',
        fields: {
          sha256: sealed.fields.plaintext_sha256,
          signature: sealed.fields.sender_signature,
          key_id: user.signing.key_id,
        },
      },
      'register-keys': {
        method: 'POST',
        path: '/auth/keys',
        auth: 'keys',
        fields: {
          ...flat('signing_key', await publicJwk(fresh.signing.publicKey)),
          ...flat('encryption_key', await publicJwk(fresh.encryption.publicKey)),
        },
      },
      'mfa-verify': { method: 'POST', path: '/auth/mfa/verify', auth: 'user', fields: { code: '123456' } },
      'revoke-key': {
        method: 'POST',
        path: `/admin/keys/${encodeURIComponent('platform-fuzz')}/revoke`,
        auth: 'admin',
        fields: { reason: 'fuzz' },
      },
    }
  })
  afterAll(async () => {
    await gateway?.close()
    await system?.stop()
  })

  /** One request: null when it is answered acceptably, else what was wrong. */
  async function check(r: FuzzRequest): Promise<string | null> {
    const auth = {
      none: {},
      user: { authorization: `Bearer ${user.token}` },
      admin: { authorization: `Bearer ${admin.token}` },
      keys: { authorization: `Bearer ${keyOwner.token}` },
      garbage: { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' },
    }[r.auth]
    const what = `${r.method} ${r.path.slice(0, 200)} (${r.auth}, ${JSON.stringify(r.headers).slice(0, 200)}, body ${String(r.body ?? '').slice(0, 120)})`
    try {
      const res = await gateway.request({
        origin: system.gatewayUrl,
        method: r.method as 'GET',
        path: r.path,
        headers: { ...r.headers, ...auth },
        body: r.body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
      const body = await res.body.text()
      const type = String(res.headers['content-type'] ?? '')
      if (r.template) {
        const code = type.startsWith('application/problem+json')
          ? ((JSON.parse(body) as { code?: string }).code ?? String(res.statusCode))
          : String(res.statusCode)
        answers.set(r.template, (answers.get(r.template) ?? new Set()).add(code))
      }
      if (res.statusCode >= 500) return `${res.statusCode} for ${what}: ${body.slice(0, 200)}`
      if (res.statusCode >= 400 && r.method !== 'HEAD') {
        if (isEnvoyAnswer(res.statusCode, res.headers, body)) return null
        if (!type.startsWith('application/problem+json'))
          return `${res.statusCode} ${type || 'no content-type'} (not problem+json) for ${what}: ${body.slice(0, 200)}`
        const problem = JSON.parse(body) as { status?: number; code?: string }
        if (problem.status !== res.statusCode || !problem.code?.startsWith('ERR_'))
          return `a problem without a matching status and code for ${what}: ${body.slice(0, 200)}`
      }
      return null
    } catch (error) {
      const e = error as Error & { code?: string }
      return `no answer (${e.code ?? e.name}: ${e.message}) for ${what}`
    }
  }

  it(`answers ${BATCH * RUNS} hostile requests with no 5xx, only problem+json errors, and no hung socket`, async () => {
    let sent = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fuzzRequest, mutation), { minLength: BATCH, maxLength: BATCH }),
        async (generated) => {
          const batch = generated.map((g) => ('how' in g ? mutated(templates, g) : g))
          const problems: string[] = []
          let next = 0
          await Promise.all(
            Array.from({ length: IN_FLIGHT }, async () => {
              while (next < batch.length) {
                const request = batch[next++] as FuzzRequest
                const problem = await check(request)
                sent++
                if (problem) problems.push(problem)
              }
            }),
          )
          expect(problems, problems.join('\n')).toEqual([])
        },
      ),
      // Bounded in count and time: shrinking a failure stops after a few minutes too.
      {
        numRuns: RUNS,
        // A failure prints its seed; FUZZ_SEED replays it.
        ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
        interruptAfterTimeLimit: 540_000,
        // Each problem is listed in full; shrinking batches of requests would take longer than it helps.
        endOnFailure: true,
      },
    )
    expect(sent).toBe(BATCH * RUNS)
    // The well-formed half got past the schema: each template was answered, for some
    // mutation, by its handler's own code (or succeeded), not only by ERR_VALIDATION.
    for (const name of Object.keys(templates) as TemplateName[])
      expect(
        [...(answers.get(name) ?? [])].filter((code) => code !== 'ERR_VALIDATION'),
        name,
      ).not.toEqual([])
  }, 600_000)
})
