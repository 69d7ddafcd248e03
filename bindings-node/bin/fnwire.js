#!/usr/bin/env node
'use strict';
// `fnwire` (e.g. `npx fnwire start .`): the fnwire host, run through the native addon.

const path = require('node:path');
const native = require('../lib/native');

// A Node app without its own node_modules/fnwire runs on this package's worker.
if (!process.env.FNWIRE_NODE_WORKER) {
  process.env.FNWIRE_NODE_WORKER = path.join(__dirname, '..', 'lib', 'worker.js');
}
// Ctrl-C and SIGTERM stop the host gracefully: its Rust side listens for them too (the handlers
// chain), then reports the exit code below. Node must have listeners of its own, or it does not
// run that report once the signal has arrived.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {});
}
native.cliRun(process.argv.slice(2), (code) => process.exit(code));
