#!/usr/bin/env node
// In this workspace the CLI runs from TypeScript source through tsx's loader, so a fresh clone
// needs no build step between `pnpm install` and `pnpm start`. The published package's bin is
// dist/bin.js instead (publishConfig.bin), which needs no loader.
import { register } from 'tsx/esm/api';

register();
await import('../src/bin.ts');
