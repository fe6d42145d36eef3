// Compiles Refusers.sol (test contracts that refuse what they are sent) with solc from npm and writes each
// contract's ABI and bytecode to Refusers.json. Run after changing the source: bun test/contracts/build.ts
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import solc from 'solc'

const source = readFileSync(join(import.meta.dir, 'Refusers.sol'), 'utf8')
const input = {
  language: 'Solidity',
  sources: { 'Refusers.sol': { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
}
const output = JSON.parse(solc.compile(JSON.stringify(input)))
const errors = (output.errors ?? []).filter((e: { severity: string }) => e.severity === 'error')
if (errors.length > 0)
  throw new Error(errors.map((e: { formattedMessage: string }) => e.formattedMessage).join('\n'))
const contracts: Record<string, { abi: unknown; evm: { bytecode: { object: string } } }> =
  output.contracts['Refusers.sol']
const compiled = Object.fromEntries(
  Object.entries(contracts).map(([name, c]) => [
    name,
    { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` },
  ]),
)
writeFileSync(
  join(import.meta.dir, 'Refusers.json'),
  `${JSON.stringify({ compiler: `solc ${solc.version()}`, contracts: compiled }, null, 2)}\n`,
)
console.log('wrote Refusers.json')
