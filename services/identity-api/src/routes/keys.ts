// The signed-in user's public keys: POST /auth/keys registers a pair made in
// the browser (after MFA: it changes what others encrypt to), GET lists them,
// DELETE /auth/keys/:id revokes one.
import type { ServiceApp } from '@docs-mesh/platform'
import Type from 'typebox'
import { validatePublicKey } from '../keys/public-keys.ts'
import type { UserKeys } from '../keys/user-keys.ts'
import { KeyIdParams, PublicKeyJwk, UserKeyView } from './schemas.ts'
import { userKeyView } from './views.ts'

export function keyRoutes(app: ServiceApp, options: { userKeys: UserKeys }): void {
  app.post(
    '/auth/keys',
    {
      config: { session: 'mfa' },
      schema: {
        tags: ['keys'],
        security: [{ session: [] }],
        body: Type.Object(
          { signing_key: PublicKeyJwk, encryption_key: PublicKeyJwk },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ keys: Type.Array(UserKeyView) }) },
      },
    },
    async (request, reply) => {
      const keys = [
        validatePublicKey('signing_key', 'signing', request.body.signing_key),
        validatePublicKey('encryption_key', 'encryption', request.body.encryption_key),
      ]
      const rows = await options.userKeys.register(request.session!.userId, keys, {
        requestId: request.id,
        trace: request.trace,
      })
      return reply.code(201).send({ keys: rows.map(userKeyView) })
    },
  )

  app.get(
    '/auth/keys',
    {
      config: { session: 'user' },
      schema: {
        tags: ['keys'],
        security: [{ session: [] }],
        response: { 200: Type.Object({ keys: Type.Array(UserKeyView) }) },
      },
    },
    async (request) => ({ keys: (await options.userKeys.list(request.session!.userId)).map(userKeyView) }),
  )

  app.delete(
    '/auth/keys/:id',
    {
      config: { session: 'mfa' },
      schema: {
        tags: ['keys'],
        security: [{ session: [] }],
        params: KeyIdParams,
        response: { 200: UserKeyView },
      },
    },
    async (request) => {
      const { userId } = request.session!
      return userKeyView(await options.userKeys.revoke(userId, request.params.id, { actor: userId }))
    },
  )
}
