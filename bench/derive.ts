// Deposit address derivation rate (watch-only, from the account xpub), against the createPayment rate it must
// not cap: the pool makes derivation background work, and this shows how much of it one core can do.
import { createSigner } from '../src/core/payouts/signer.ts'
import { deriveEvmAddress } from '../src/plugins/evm/derive.ts'
import { fmt, report, table } from './lib.ts'

const n = Number(process.env.BENCH_DERIVATIONS ?? 5000)
const xpub = createSigner('test test test test test test test test test test test junk').xpub("m/44'/60'/0'")
deriveEvmAddress(xpub, "m/44'/60'/0'", 0)
const t0 = performance.now()
for (let i = 1; i <= n; i++) deriveEvmAddress(xpub, "m/44'/60'/0'", i)
const perSecond = n / ((performance.now() - t0) / 1000)
report(
  'Address derivation (bench/derive.ts)',
  `${table(['work', 'per second (one thread)', 'µs each'], [['EVM address from account xpub (BIP44 /0/i)', fmt(perSecond, 0), fmt(1e6 / perSecond, 0)]])}

Derivation never runs on the request path: payments take addresses from the pre-derived pool, which the worker
refills (the API only asks it to, through the queue).`,
)
