// Path templates in AuthorizationPolicy paths (Envoy URI templates): `{*}`
// matches one path segment's worth of text, `{**}` zero or more characters
// across segments and must be the last operator. A template may hold no other
// `*`, `{` or `}`, and a segment with an operator holds nothing else.

export class PathTemplateError extends Error {
  readonly code = 'ERR_MESH_PATH_TEMPLATE'
}

export const isPathTemplate = (path: string): boolean => path.includes('{*}') || path.includes('{**}')

// Characters Envoy's URI template allows in a matched path segment.
const SEGMENT = "[A-Za-z0-9\\-._~%!$&'()+,;:@=]"

export function compilePathTemplate(template: string): RegExp {
  const segments = template.split('/')
  let sawDoubleStar = false
  const parts = segments.map((segment) => {
    if (sawDoubleStar && /\{\*\*?\}/.test(segment)) {
      throw new PathTemplateError(`path template ${template}: {**} must be the last operator`)
    }
    if (segment === '{*}') return `${SEGMENT}+`
    if (segment === '{**}') {
      sawDoubleStar = true
      return `(?:${SEGMENT}|/)*`
    }
    if (/[*{}]/.test(segment)) {
      throw new PathTemplateError(`path template ${template}: "${segment}" mixes an operator with other text`)
    }
    return segment.replace(/[.+?^$()|[\]\\]/g, '\\$&')
  })
  return new RegExp(`^${parts.join('/')}$`)
}
