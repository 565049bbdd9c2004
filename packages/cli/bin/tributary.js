#!/usr/bin/env node
// The CLI is written in TypeScript and runs from source through tsx's loader, so a fresh
// clone needs no build step between `pnpm install` and `pnpm start`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
