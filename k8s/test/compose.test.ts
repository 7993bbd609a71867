// docker compose up must start every service: each gets, from
// docker-compose.yml, a configuration its own loader accepts (a missing or
// malformed setting stops a service at boot, exit 78).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { loadServiceConfig as adminConfig } from '@docs-mesh/admin-api/config'
import { loadServiceConfig as bucketConfig } from '@docs-mesh/bucket-api/config'
import { loadServiceConfig as frontendConfig } from '@docs-mesh/frontend/config'
import { loadServiceConfig as identityConfig } from '@docs-mesh/identity-api/config'
import { loadServiceConfig as signingConfig } from '@docs-mesh/signing-api/config'
import { loadServiceConfig as verificationConfig } from '@docs-mesh/verification-api/config'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

interface ComposeService {
  build?: { args?: { SERVICE?: string } }
  environment?: Record<string, string>
}

const compose = parse(
  readFileSync(fileURLToPath(new URL('../../docker-compose.yml', import.meta.url)), 'utf8'),
) as {
  services: Record<string, ComposeService>
}
const loaders: Record<string, (env: Record<string, string | undefined>) => unknown> = {
  'bucket-api': bucketConfig,
  'signing-api': signingConfig,
  'verification-api': verificationConfig,
  'identity-api': identityConfig,
  'admin-api': adminConfig,
  frontend: frontendConfig,
}

describe('docker-compose.yml', () => {
  it('builds every service and the local OpenID provider', () => {
    const built = Object.values(compose.services).flatMap((s) => s.build?.args?.SERVICE ?? [])
    expect(built.sort()).toEqual([...Object.keys(loaders), 'oidc-provider'].sort())
  })

  it.each(Object.keys(loaders))('gives %s a configuration it accepts', (name) => {
    const env = compose.services[name]?.environment ?? {}
    expect(() => loaders[name]?.(env)).not.toThrow()
  })

  it('runs no app as if a sidecar fronted it: compose has no mesh, so no app trusts XFCC', () => {
    for (const name of Object.keys(loaders))
      expect(compose.services[name]?.environment?.MESH_SIDECAR, name).toBeUndefined()
  })

  it('points identity-api and the provider at the same client and issuer', () => {
    const identity = compose.services['identity-api']?.environment ?? {}
    const provider = compose.services['oidc-provider']?.environment ?? {}
    expect(identity.OIDC_ISSUER).toBe(provider.OIDC_ISSUER)
    expect(identity.OIDC_CLIENT_ID).toBe(provider.OIDC_CLIENT_ID)
    expect(identity.OIDC_CLIENT_SECRET).toBe(provider.OIDC_CLIENT_SECRET)
    expect(provider.OIDC_REDIRECT_URIS).toBe(
      `${identity.PUBLIC_URL}/auth/oidc/${identity.OIDC_PROVIDER}/callback`,
    )
  })
})
