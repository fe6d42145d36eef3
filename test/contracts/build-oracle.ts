// Compiles SanctionsOracle.sol (an on-chain sanctions oracle with the public oracle's ABI, and contracts that
// answer what an oracle must not) with solc from npm and writes each contract's ABI and bytecode to
// SanctionsOracle.json. Run after changing the source: bun test/contracts/build-oracle.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { compileSolidity } from '../../contracts/compile.ts'

const { compiler, contracts } = compileSolidity(join(import.meta.dir, 'SanctionsOracle.sol'))
writeFileSync(
  join(import.meta.dir, 'SanctionsOracle.json'),
  `${JSON.stringify({ compiler, contracts }, null, 2)}\n`,
)
console.log('wrote SanctionsOracle.json')
