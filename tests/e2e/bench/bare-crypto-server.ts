// The floor under POST /sign and POST /verify, for the benchmark: a Fastify app
// that does nothing but the signature. The same JSON bodies, validated by a
// schema and answered through a response schema as the apps' are, Ed25519 with
// a key in memory; no database, no audit chain, no hooks, no logging, no
// security headers, no caller checks. What it costs per request is what any
// Fastify route that signs or verifies pays at least, so its rates are the
// ceilings for the apps' on this machine.
import { generateKeyPairSync, sign, verify } from 'node:crypto'
import Fastify from 'fastify'

const { privateKey, publicKey } = generateKeyPairSync('ed25519')
const app = Fastify({ logger: false })
const sha256 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const

app.post(
  '/sign',
  {
    schema: {
      body: {
        type: 'object',
        required: ['sha256', 'purpose', 'subject_id'],
        properties: { sha256, purpose: { type: 'string' }, subject_id: { type: 'string' } },
      },
      response: { 200: { type: 'object', properties: { signature: { type: 'string' } } } },
    },
  },
  async (request) => {
    const { sha256: digest } = request.body as { sha256: string }
    return { signature: sign(null, Buffer.from(digest, 'hex'), privateKey).toString('base64url') }
  },
)

app.post(
  '/verify',
  {
    schema: {
      body: {
        type: 'object',
        required: ['sha256', 'signature'],
        properties: { sha256, signature: { type: 'string' }, key_id: { type: 'string' } },
      },
      response: { 200: { type: 'object', properties: { valid: { type: 'boolean' } } } },
    },
  },
  async (request) => {
    const body = request.body as { sha256: string; signature: string }
    const signature = Buffer.from(body.signature, 'base64url')
    return { valid: verify(null, Buffer.from(body.sha256, 'hex'), publicKey, signature) }
  },
)

await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' ? address?.port : 0 })}\n`)
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))
