'use strict';
// `fnwire start <app>` for the end-to-end tests in ../test, started through a given `fnwire` bin,
// resolved once the host serves, with its combined output and a SIGTERM stop. It lives outside
// test/ so that `node --test test/` does not run it as a test file.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const net = require('node:net');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * Starts `node <bin> start <appDir>` on a free port and resolves once the host serves.
 * `env` is added to this process's environment; `logWaitSteps` bounds `logMatching` in 50 ms steps;
 * `args` go after the port (e.g. `--watch`).
 */
async function startHost(bin, appDir, { cwd, env = {}, logWaitSteps = 100, args = [] } = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [bin, 'start', appDir, '--port', String(port), ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  for (let i = 0; i < 300 && child.exitCode === null && !/Host started/.test(output); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(output, /Host started/, `the host did not start:\n${output}`);
  return {
    base: `http://127.0.0.1:${port}`,
    log: () => output,
    /** Resolves with the log once it matches `pattern` (console lines are written by the host's
     * writer thread, a moment after the response they belong to), or as it is at the bound. */
    async logMatching(pattern) {
      for (let i = 0; i < logWaitSteps && !pattern.test(output); i++) await new Promise((r) => setTimeout(r, 50));
      return output;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

module.exports = { startHost };
