// Compiles TestToken.sol with solc from npm and writes its ABI and bytecode next to it.
// Run after changing the source: bun contracts/build.ts
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import solc from 'solc'

const source = readFileSync(join(import.meta.dir, 'TestToken.sol'), 'utf8')
const input = {
  language: 'Solidity',
  sources: { 'TestToken.sol': { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
}
const output = JSON.parse(solc.compile(JSON.stringify(input)))
const errors = (output.errors ?? []).filter((e: { severity: string }) => e.severity === 'error')
if (errors.length > 0)
  throw new Error(errors.map((e: { formattedMessage: string }) => e.formattedMessage).join('\n'))
const contract = output.contracts['TestToken.sol'].TestToken
writeFileSync(
  join(import.meta.dir, 'TestToken.json'),
  `${JSON.stringify({ compiler: `solc ${solc.version()}`, abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` }, null, 2)}\n`,
)
console.log('wrote TestToken.json')
