#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so `npx pgfailover-agent` works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
await import('../agent/main.ts');
