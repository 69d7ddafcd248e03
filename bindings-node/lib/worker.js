#!/usr/bin/env node
'use strict';
// The fnwire Node worker: `node worker.js <the host's worker arguments>`. Loads the app's entry
// files (which register functions), then runs the fnwire core worker until the host stops it.

const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const native = require('./native');
const { dispatch, cancel, setCurrentScript, registeredCount } = require('./app');
const { entryFiles } = require('./entry-files');
const azure = require('./azure-core');

async function loadApp(appDir) {
  // Apps written for Microsoft's worker (@azure/functions v4) reach it through this module.
  azure.installCoreModule();
  for (const file of entryFiles(appDir)) {
    setCurrentScript(path.relative(appDir, file));
    azure.setCurrentScript(path.relative(appDir, file));
    // import() loads CommonJS and ES modules alike.
    await import(pathToFileURL(file).href);
  }
  setCurrentScript('');
  azure.setCurrentScript('');
  if (registeredCount() === 0 && azure.registeredCount() === 0) {
    throw new Error(
      `fnwire: the app in ${appDir} registered no functions; its entry files must call app.httpTrigger(...), ` +
        "app.timerTrigger(...), app.queueTrigger(...) or app.generic(...) from 'fnwire', or app.http(...) " +
        "and friends from '@azure/functions' (v4)",
    );
  }
  await azure.startApp(appDir);
}

/** Placeholder mode: the host specializes the worker for an app directory later. */
function reloadCallback() {
  return ({ token, appDir }) => {
    loadApp(appDir).then(
      () => native.reloadDone(token, null),
      (error) => native.reloadDone(token, String(error && error.stack ? error.stack : error)),
    );
  };
}

async function main() {
  const appDir = path.resolve(process.env.FUNCTIONS_APPLICATION_DIRECTORY || process.cwd());
  const placeholder = !fs.existsSync(path.join(appDir, 'package.json'));
  if (!placeholder) await loadApp(appDir);
  const onReload = placeholder ? reloadCallback() : undefined;
  native.workerStart(process.argv.slice(2), dispatch, (error) => {
    if (error) {
      process.stderr.write(`fnwire: ${error}\n`);
      process.exitCode = 1;
    }
    // Every native handle is released by now; user code (timers, sockets) may still hold the
    // event loop, but the host is gone, so don't wait on it for long.
    setTimeout(() => process.exit(), 2000).unref();
    azure.terminateApp();
  }, onReload, cancel);
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
