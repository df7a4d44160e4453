#!/usr/bin/env node
// Thin launcher. In a checkout (src/ beside bin/) it registers tsx and runs the TypeScript sources,
// so no build step stands between an edit and a run; an installed package has no src/ and runs the
// compiled dist/. Either way the CLI's main() alone decides the exit code.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
await main(process.argv);
