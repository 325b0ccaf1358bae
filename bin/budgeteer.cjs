#!/usr/bin/env node
// The SDK's versions are pinned in package-lock.json, so its notice about future Node versions is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// The CLI is TypeScript; tsx compiles it on the fly so `npx budgeteer` works straight after `npm ci`.
require('tsx/cjs');
require('../cli/main.ts');
