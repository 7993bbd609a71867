// A policy as people read it: the object's YAML, and the lines of the rule
// that decided, so the console can highlight them. The text is the object as
// the manifests built it (overlays and patches applied), re-printed, since
// that is what the mesh enforces.
import { isMap, isSeq, parseDocument, stringify } from 'yaml'
import type { MeshModel } from '../manifests/mesh-model.ts'

export interface PolicyText {
  kind: string
  /** `<namespace>/<name>` */
  id: string
  yaml: string
  /** 1-based inclusive line range of the rule that decided, or null when no one rule did. */
  highlight: { from: number; to: number } | null
}

function lineOf(text: string, offset: number): number {
  let line = 1
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++
  return line
}

/** The YAML of a `kind` object `<namespace>/<name>` of the model, with `spec.<list>[index]` highlighted. */
export function policyText(
  model: MeshModel,
  kind: 'AuthorizationPolicy' | 'NetworkPolicy',
  id: string,
  highlight: { list: string; index: number } | null = null,
): PolicyText | null {
  const object = model.objects.find(
    (o) => o.kind === kind && `${o.metadata.namespace ?? 'default'}/${o.metadata.name}` === id,
  )
  if (!object) return null
  const { apiVersion, kind: k, metadata, spec } = object
  const shown = {
    apiVersion,
    kind: k,
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      ...(metadata.annotations ? { annotations: metadata.annotations } : {}),
    },
    spec,
  }
  const yaml = stringify(shown, { lineWidth: 0 })
  if (!highlight) return { kind, id, yaml, highlight: null }
  // Parsed back from the printed text, so node ranges are offsets into exactly what is shown.
  const doc = parseDocument(yaml)
  const list = doc.getIn(['spec', highlight.list], true)
  const item = isSeq(list) ? list.items[highlight.index] : undefined
  const range = isMap(item) || isSeq(item) ? item.range : null
  if (!range) return { kind, id, yaml, highlight: null }
  // A block sequence item starts after its "- ": take the whole line; the range ends past the item's last newline.
  const end = yaml.slice(0, range[2]).replace(/\n+$/, '').length
  return { kind, id, yaml, highlight: { from: lineOf(yaml, range[0]), to: lineOf(yaml, end) } }
}
