import { createRequire } from 'node:module'
import type * as TronWebModule from 'tronweb'

/**
 * tronweb, the independent Tron client the tests check the driver and the stand-in node against, from its
 * CommonJS build: under Bun its ES-module build loads its generated protobuf files in an order that sometimes
 * fails ("proto is not defined", about one start in five), the CommonJS build never does.
 *
 * @example
 * const tw = new TronWeb({ fullHost: node.url })
 */
export const { TronWeb } = createRequire(import.meta.url)('tronweb') as typeof TronWebModule
