// Writes a CycloneDX 1.6 SBOM (JSON) of what the services run: every
// production dependency of every workspace package, as pnpm resolved it
// (`pnpm list --prod`), with its package URL and resolved tarball. Dev-only
// tools (test runners, linters) are left out: they never ship in an image.
//   node --import tsx scripts/sbom.ts <output file>
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library'

interface Listed {
  name: string
  version?: string
  resolved?: string
  path?: string
  dependencies?: Record<string, Listed>
}

const output = process.argv[2]
if (!output) {
  process.stderr.write('usage: sbom.ts <output file>\n')
  process.exit(2)
}

const listed = JSON.parse(
  execFileSync('pnpm', ['list', '--prod', '--json', '--recursive', '--depth', 'Infinity'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  }),
) as Listed[]

const root = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; description?: string }
const bom = new Models.Bom()
bom.metadata.timestamp = new Date()
bom.metadata.component = new Models.Component(Enums.ComponentType.Application, root.name, {
  bomRef: root.name,
  description: root.description,
})

const purlOf = (name: string, version: string) =>
  `pkg:npm/${name.startsWith('@') ? `%40${name.slice(1)}` : name}@${version}`
const components = new Map<string, Models.Component>()
function add(name: string, dependency: Listed): Models.Component | undefined {
  // Workspace links (link:/workspace:) are this repository's own packages, listed as such below.
  if (!dependency.version || dependency.version.startsWith('link:')) return undefined
  const ref = purlOf(name, dependency.version)
  let component = components.get(ref)
  if (!component) {
    component = new Models.Component(Enums.ComponentType.Library, name, {
      bomRef: ref,
      version: dependency.version,
    })
    component.purl = ref as unknown as Models.Component['purl']
    if (dependency.resolved)
      component.externalReferences.add(
        new Models.ExternalReference(dependency.resolved, Enums.ExternalReferenceType.Distribution),
      )
    components.set(ref, component)
    bom.components.add(component)
    for (const [childName, child] of Object.entries(dependency.dependencies ?? {})) {
      const added = add(childName, child)
      if (added) component.dependencies.add(added.bomRef)
    }
  }
  return component
}

for (const pkg of listed) {
  const top = [...Object.entries(pkg.dependencies ?? {})]
    .map(([name, dependency]) => add(name, dependency))
    .filter((c): c is Models.Component => c !== undefined)
  if (pkg.name === root.name) continue
  const workspace = new Models.Component(Enums.ComponentType.Application, pkg.name, {
    bomRef: pkg.name,
    version: pkg.version,
  })
  for (const c of top) workspace.dependencies.add(c.bomRef)
  bom.metadata.component.components.add(workspace)
}

const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6))
mkdirSync(dirname(output), { recursive: true })
writeFileSync(output, serializer.serialize(bom, { sortLists: true, space: 2 }))
process.stdout.write(`sbom: ${components.size} production packages written to ${output}\n`)
