// Path templates in AuthorizationPolicy paths. Istio checks them
// (CheckValidPathTemplate, pkg/config/security/security.go) and hands them to
// Envoy as a URI template with `{*}` → `*` and `{**}` → `**`
// (pilot/pkg/security/authz/matcher/template.go); Envoy turns that into a
// regex (source/extensions/path/uri_template_lib/uri_template_internal.cc,
// envoyproxy/envoy): `*` is one or more characters of its literal class (an
// RFC 3986 pchar without `*` and `=`), `**` zero or more of that class or
// `/`, a literal segment is matched as written, and `{**}` must be the last
// operator. A template Envoy would reject is refused here.

export class PathTemplateError extends Error {
  readonly code = 'ERR_MESH_PATH_TEMPLATE'
}

export const isPathTemplate = (path: string): boolean => path.includes('{*}') || path.includes('{**}')

// Envoy's kLiteral: unreserved, `%`, sub-delims without `*` and `=`, `:` and `@`.
const LITERAL = "a-zA-Z0-9\\-._~%!$&'()+,;:@"
const PATH_GLOB = `[${LITERAL}]+`
const TEXT_GLOB = `[${LITERAL}/]*`
const VALID_LITERAL = new RegExp(`^[${LITERAL}]+$`)

export function compilePathTemplate(template: string): RegExp {
  if (!/^\/[\x21-\x7e]*$/.test(template))
    throw new PathTemplateError(
      `path template ${template}: must start with "/" and hold only printable characters`,
    )
  let body = template.slice(1)
  const trailingSlash = body.endsWith('/')
  if (trailingSlash) body = body.slice(0, -1)
  let sawTextGlob = false
  const parts = body.split('/').map((segment) => {
    if (segment === '{*}' || segment === '{**}') {
      if (sawTextGlob)
        throw new PathTemplateError(`path template ${template}: {**} must be the last operator`)
      sawTextGlob = segment === '{**}'
      return sawTextGlob ? TEXT_GLOB : PATH_GLOB
    }
    if (/[{}]/.test(segment))
      throw new PathTemplateError(`path template ${template}: "${segment}" mixes an operator with other text`)
    if (!VALID_LITERAL.test(segment))
      throw new PathTemplateError(
        `path template ${template}: segment "${segment}" is not a literal Envoy's URI template accepts`,
      )
    return segment.replace(/[$()+.]/g, '\\$&')
  })
  return new RegExp(`^/${parts.join('/')}${trailingSlash ? '/' : ''}$`)
}
