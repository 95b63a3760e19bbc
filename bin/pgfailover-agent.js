#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so `npx pgfailover-agent` works right after `npm ci`.
import { register } from 'tsx/esm/api';

// The SDK's notice that future releases need Node 22 says nothing about this program; keep output clean.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('../agent/main.ts');
