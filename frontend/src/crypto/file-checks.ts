// What DESIGN.md asks of a file before it is sent and after it is opened: at
// most 5 MiB; PDF, plain text, PNG or JPEG; magic bytes that agree with the
// type; text that is UTF-8 without NUL.
export const MAX_FILE_BYTES = 5 * 1024 * 1024
export const TYPES = {
  'application/pdf': 'PDF',
  'text/plain': 'plain text',
  'image/png': 'PNG',
  'image/jpeg': 'JPEG',
} as const
export type AllowedType = keyof typeof TYPES

const starts = (b: Uint8Array, sig: number[]) => sig.every((v, i) => b[i] === v)

export function typeProblem(bytes: Uint8Array, type: string): string | null {
  if (!(type in TYPES))
    return `only ${Object.values(TYPES).join(', ')} files can be sent (this one is ${type || 'of unknown type'})`
  if (bytes.length === 0) return 'the file is empty'
  if (bytes.length > MAX_FILE_BYTES) return 'the file is larger than 5 MiB'
  switch (type as AllowedType) {
    case 'application/pdf':
      return starts(bytes, [0x25, 0x50, 0x44, 0x46, 0x2d])
        ? null
        : 'the file says PDF but does not start like one'
    case 'image/png':
      return starts(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        ? null
        : 'the file says PNG but does not start like one'
    case 'image/jpeg':
      return starts(bytes, [0xff, 0xd8, 0xff]) ? null : 'the file says JPEG but does not start like one'
    case 'text/plain':
      if (bytes.includes(0)) return 'the text contains NUL bytes'
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes)
        return null
      } catch {
        return 'the text is not valid UTF-8'
      }
  }
}
