// The README's "Who can call what" diagram is the policies' own: it must say
// what `mesh graph --format mermaid` says about k8s/base today.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { edgesAsMermaid, whoCanCall } from '../../src/graph/who-can-call.ts'
import { loadManifests } from '../../src/manifests/load-manifests.ts'
import { buildMeshModel } from '../../src/manifests/mesh-model.ts'

describe('the README', () => {
  it('shows the call graph the policies in k8s/base allow', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8')
    const diagram = /```mermaid\n([\s\S]*?)\n```/.exec(readme)?.[1]
    const model = buildMeshModel(loadManifests(fileURLToPath(new URL('../../../k8s/base', import.meta.url))))
    expect(diagram, 'regenerate it with: pnpm --silent mesh graph --format mermaid').toBe(
      edgesAsMermaid(whoCanCall(model)),
    )
  })
})
