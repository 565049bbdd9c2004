#!/usr/bin/env node
// The installed command: the built package runs this file directly (see publishConfig.bin). In the
// workspace, bin/tributary.js loads the TypeScript source through tsx instead.
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
