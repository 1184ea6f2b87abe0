import { InvalidArgumentError } from 'commander'
// The options most commands share, worded once so their help cannot drift apart.
export const MODULE_OPTION = ['--module <module>', 'one module: admin, storage-element or query'] as const
/** For the commands that act on exactly one module (their library refuses without it). */
export const ONE_MODULE_OPTION = ['--module <module>', 'the module: admin, storage-element or query (required)'] as const
export const PREFIX_OPTION = ['--prefix <prefix>', 'storage-element instance prefix (default STORAGE_ELEMENT_PREFIX, else storage_elem_01)'] as const
export const JSON_OPTION = ['--json', 'print the report as JSON'] as const

/** A commander parser for a whole number of at least `min`; `example` shows the option in the error. */
export const wholeNumber =
  (min: number, example: string) =>
  (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`a whole number${min ? ` from ${min}` : ''}, e.g. ${example}`)
    return Number(v)
  }
