// A runner process (see src/process/child.ts), started by its node over IPC. In the workspace the
// runtime runs from its TypeScript source, through tsx's loader, as the CLI does.
import { register } from 'tsx/esm/api';

register();
await import('../src/process/child.ts');
