#!/usr/bin/env node
'use strict';
// `fnwire` (e.g. `npx fnwire start .`): the fnwire host, run through the native addon.

const path = require('node:path');
const native = require('../lib/native');

// A Node app without its own node_modules/fnwire runs on this package's worker.
if (!process.env.FNWIRE_NODE_WORKER) {
  process.env.FNWIRE_NODE_WORKER = path.join(__dirname, '..', 'lib', 'worker.js');
}
native.cliRun(process.argv.slice(2), (code) => process.exit(code));
