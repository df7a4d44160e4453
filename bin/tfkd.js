#!/usr/bin/env node
// Thin launcher: registers tsx so the TypeScript sources run without a build step, then hands over
// to the CLI's main(), which alone decides the exit code.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
