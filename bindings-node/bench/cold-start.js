#!/usr/bin/env node
'use strict';
// Cold start of Node apps under `fnwire start`, for A/B comparisons of two builds of this package:
//
//   node bindings-node/bench/cold-start.js FNWIRE_BINARY ROUNDS APP_DIR [APP_DIR ...]
//
// Starts each app in turn (alternating, ROUNDS times) on a port of 127.0.0.1, polls
// /api/hello?name=bench every 2 ms until a 200, and prints per app the medians of: ms to that 200,
// the worker's CPU time at that moment (every thread's, from /proc/<pid>/task/*/schedstat) and the
// host's. CPU time moves far less than wall clock on a busy machine. To compare with an older
// package, copy the app and point its node_modules/fnwire at a copy of the old package.
const { spawn, execFileSync } = require('node:child_process');
const http = require('node:http');
const fs = require('node:fs');
const [fnwire, rounds, ...apps] = process.argv.slice(2);
const tick = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString());
function get(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/api/hello?name=bench', agent: false }, (res) => {
      res.resume(); res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function cpu(pid) {
  // Every thread's time on CPU, in ns (schedstat's first field), as ms.
  try {
    let ns = 0;
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
  } catch { return NaN; }
}
function children(pid) {
  try { return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
}
(async () => {
  const results = Object.fromEntries(apps.map((a) => [a, []]));
  let port = 7400;
  for (let r = 0; r < Number(rounds); r++) {
    for (const app of apps) {
      port++;
      const t0 = performance.now();
      const child = spawn(fnwire, ['start', app, '--port', String(port), '--no-dashboard'], { stdio: 'ignore' });
      let ms;
      while (performance.now() - t0 < 20000) {
        if ((await get(port)) === 200) { ms = performance.now() - t0; break; }
        await sleep(2);
      }
      const w = children(child.pid)[0];
      const wcpu = cpu(w), hcpu = cpu(child.pid);
      results[app].push([ms, wcpu, hcpu]);
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
      await sleep(300);
    }
  }
  for (const app of apps) {
    const rows = results[app];
    const med = (i) => { const v = rows.map((x) => x[i]).sort((a, b) => a - b); return v[Math.floor(v.length / 2)].toFixed(1); };
    console.log(`${app}: first 200 median ${med(0)} ms, worker CPU median ${med(1)} ms, host CPU median ${med(2)} ms; all: ${rows.map((x) => x.map((v) => v.toFixed(0)).join('/')).join(' ')}`);
  }
})();
