/**
 * The toy chain's Tollgate plugin: the module `plugins.config.ts` names (`chain('@acme/tollgate-toychain', …)`).
 * Its default export is the definition; the gateway validates the operator's options with `options` and calls
 * `create` once at boot.
 */
import { defineChainDriver, SDK_API_VERSION } from '@tollgate/sdk'
import { createToyDriver } from './driver.ts'
import { toyOptions } from './options.ts'

export { toyOptions } from './options.ts'

export default defineChainDriver({
  apiVersion: SDK_API_VERSION,
  name: '@acme/tollgate-toychain',
  options: toyOptions,
  create: (options, ctx) => createToyDriver(options, ctx),
})
