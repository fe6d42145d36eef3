import { h, render } from 'preact'
import { App } from './app.ts'

// The console's entry point, bundled by src/console/serve.ts: the shell's #app is replaced by the console.
const root = document.getElementById('app')
if (root) {
  root.textContent = ''
  render(h(App, null), root)
}
