// `mesh curl`: one request from a chosen identity through the running local
// mesh (the one `pnpm dev` started), printed as `HTTP <status>` and the body.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CertificateAuthority } from '../ca/certificate-authority.ts'
import { meshCurl } from '../client/mesh-curl.ts'
import { loadManifests } from '../manifests/load-manifests.ts'
import { buildMeshModel } from '../manifests/mesh-model.ts'
import type { MeshState } from '../runtime/local-mesh.ts'
import { STATE_FILE } from '../runtime/system.ts'
import { UsageError } from './usage-error.ts'

export interface CurlArgs {
  from: string
  method: string
  headers: string[]
  data: string | undefined
  url: string
  meshDir: string
}

export async function curlCommand(args: CurlArgs, write: (text: string) => void): Promise<number> {
  const stateFile = join(args.meshDir, STATE_FILE)
  if (!existsSync(stateFile))
    throw new UsageError(`no running local mesh (${stateFile} is missing): start it with pnpm dev`)
  const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as MeshState & {
    manifests: string
    caDir: string
  }
  const headers: Record<string, string> = {}
  for (const h of args.headers) {
    const i = h.indexOf(':')
    if (i <= 0) throw new UsageError(`header "${h}" is not "name: value"`)
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim()
  }
  if (!URL.canParse(args.url)) throw new UsageError(`not a URL: ${args.url}`)
  const ctx = {
    model: buildMeshModel(loadManifests(saved.manifests)),
    state: saved,
    ca: await CertificateAuthority.loadOrCreate(saved.caDir),
  }
  const method = args.method || (args.data !== undefined ? 'POST' : 'GET')
  const result = await meshCurl(ctx, args.from, { method, url: args.url, headers, body: args.data })
  if (result.exitCode === 0)
    write(`HTTP ${result.status}\n${result.body ?? ''}${result.body?.endsWith('\n') ? '' : '\n'}`)
  else process.stderr.write(`mesh curl: (${result.exitCode}) ${result.error ?? ''}\n`)
  return result.exitCode
}
