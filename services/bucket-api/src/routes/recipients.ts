// GET /buckets/recipients?email=: who the sender's browser is about to seal a
// file to, and the keys to use, looked up in identity-api.
import { HttpProblem, type ServiceApp } from '@docs-mesh/platform'
import Type from 'typebox'
import type { IdentityClient } from '../buckets/identity-client.ts'

const Key = Type.Object({
  key_id: Type.String(),
  algorithm: Type.String({
    description: 'with created_at, what the sender’s browser needs to rebuild the attested statement',
  }),
  public_key: Type.String(),
  fingerprint: Type.String(),
  created_at: Type.String(),
  attestation: Type.Object({
    signature_id: Type.String(),
    signature: Type.String(),
    key_id: Type.String(),
    sha256: Type.String(),
  }),
})

export function recipientRoutes(app: ServiceApp, options: { identity: IdentityClient }): void {
  app.get(
    '/buckets/recipients',
    {
      config: { session: 'user' },
      schema: {
        tags: ['buckets'],
        security: [{ session: [] }],
        querystring: Type.Object(
          { email: Type.String({ minLength: 3, maxLength: 320 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            id: Type.String(),
            display_name: Type.String(),
            email: Type.String(),
            keys: Type.Object({
              signing: Type.Union([Key, Type.Null()]),
              encryption: Type.Union([Key, Type.Null()]),
            }),
          }),
        },
      },
    },
    async (request) => {
      const recipient = await options.identity.lookup(
        { email: request.query.email.trim().toLowerCase() },
        { requestId: request.id, trace: request.trace },
      )
      if (!recipient)
        throw new HttpProblem(404, 'ERR_RECIPIENT_UNKNOWN', 'nobody with that e-mail address uses docs-mesh')
      return recipient
    },
  )
}
