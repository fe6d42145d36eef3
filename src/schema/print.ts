import { printedSchema } from './index.ts'

await Bun.write('schema.graphql', printedSchema())
console.log('wrote schema.graphql')
