import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config/load-config.ts'

const schema = Type.Object({
  SIGNING_API_URL: Type.String({ pattern: '^https?://' }),
  KEY_ENCRYPTION_KEY: Type.String({ minLength: 32 }),
})

describe('loadConfig', () => {
  it('applies defaults, coerces numbers and booleans, and keeps only what the schema names', () => {
    const config = loadConfig(
      {
        PORT: '9000',
        SIGNING_API_URL: 'http://signing-api.docs.svc.cluster.local:8001',
        KEY_ENCRYPTION_KEY: 'k'.repeat(32),
        MESH_SIDECAR: 'true',
        PATH: '/usr/bin',
      },
      { defaultPort: 8000, schema },
    )
    expect(config.PORT).toBe(9000)
    expect(config.MESH_SIDECAR).toBe(true)
    // The rest of the environment is not configuration.
    expect(config).not.toHaveProperty('PATH')
    expect(config.HOST).toBe('127.0.0.1')
    expect(config.DATABASE_URL).toBe('.data/docs-mesh.sqlite')
    expect(config.SIGNING_API_URL).toBe('http://signing-api.docs.svc.cluster.local:8001')
  })

  it('uses the service port when PORT is unset', () => {
    expect(loadConfig({}, { defaultPort: 8003 }).PORT).toBe(8003)
  })

  it('names every problem in one error', () => {
    let error: unknown
    try {
      loadConfig(
        { PORT: 'eighty', LOG_LEVEL: 'loud', KEY_ENCRYPTION_KEY: 'short' },
        { defaultPort: 8000, schema },
      )
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    const { problems, message, code } = error as ConfigError
    expect(code).toBe('ERR_CONFIG_INVALID')
    expect(problems).toEqual(
      expect.arrayContaining([
        'SIGNING_API_URL is required',
        expect.stringMatching(/^PORT /),
        expect.stringMatching(/^KEY_ENCRYPTION_KEY /),
        expect.stringMatching(/^LOG_LEVEL /),
      ]),
    )
    for (const name of ['SIGNING_API_URL', 'PORT', 'KEY_ENCRYPTION_KEY', 'LOG_LEVEL'])
      expect(message).toContain(name)
  })

  it('refuses a port out of range', () => {
    expect(() => loadConfig({ PORT: '70000' }, { defaultPort: 8000 })).toThrow(/PORT/)
  })

  it('keeps an app behind a sidecar on loopback: MESH_SIDECAR with a non-loopback HOST is refused', () => {
    expect(loadConfig({ MESH_SIDECAR: 'true' }, { defaultPort: 8000 }).HOST).toBe('127.0.0.1')
    expect(loadConfig({ MESH_SIDECAR: 'true', HOST: '::1' }, { defaultPort: 8000 }).MESH_SIDECAR).toBe(true)
    expect(() => loadConfig({ MESH_SIDECAR: 'true', HOST: '0.0.0.0' }, { defaultPort: 8000 })).toThrow(
      /HOST must be a loopback address when MESH_SIDECAR is true/,
    )
    expect(loadConfig({ HOST: '0.0.0.0' }, { defaultPort: 8000 }).MESH_SIDECAR).toBe(false)
  })
})
