#!/usr/bin/env node
// The CLI is TypeScript; tsx compiles it on the fly so `npx budgeteer` works straight after `npm ci`.
require('tsx/cjs');
require('../cli/main.ts');
