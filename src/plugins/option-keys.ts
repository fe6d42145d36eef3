/**
 * The keys a zod (v4) object schema knows at `path` of its input, for "did you mean" hints on unknown option
 * keys; undefined for any other schema (a plugin may use any Standard Schema library: the hint is a bonus).
 * Walks objects, arrays, unions, wrappers (optional, default, …) and pipes (a transform's input side).
 *
 * @example
 * knownOptionKeys(evmOptionsSchema, []) // ['preset', 'chain', 'rpcUrls', 'tokens', 'confirmations', …]
 */
export function knownOptionKeys(schema: unknown, path: ReadonlyArray<PropertyKey>): string[] | undefined {
  const def = (schema as { _zod?: { def?: Record<string, unknown> } } | undefined)?._zod?.def
  if (!def) return undefined
  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, unknown>
      if (path.length === 0) return Object.keys(shape)
      const [head, ...rest] = path
      return knownOptionKeys(shape[String(head)], rest)
    }
    case 'array':
      return path.length === 0 ? undefined : knownOptionKeys(def.element, path.slice(1))
    case 'union':
      for (const option of def.options as unknown[]) {
        const keys = knownOptionKeys(option, path)
        if (keys) return keys
      }
      return undefined
    case 'pipe':
      return knownOptionKeys(def.in, path)
    default:
      return 'innerType' in def ? knownOptionKeys(def.innerType, path) : undefined
  }
}
