#!/usr/bin/env node
// Runs the TypeScript CLI directly: tsx compiles it on the fly, so a fresh clone works
// after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main();
