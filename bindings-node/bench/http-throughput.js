#!/usr/bin/env node
'use strict';
// Throughput of a trivial HTTP function through `fnwire start` (host + Node worker) against a
// plain node:http server doing the same work, in the same run. Prints requests/s and the ratio.
// Usage: node bench/http-throughput.js [requests=5000] [concurrency=32]

const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');

const total = Number(process.argv[2] ?? 5000);
const concurrency = Number(process.argv[3] ?? 32);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => (res.statusCode === 200 && body === 'Hello, Ada!' ? resolve() : reject(new Error(`${res.statusCode} ${body}`))));
      })
      .on('error', reject);
  });
}

async function load(url) {
  for (let i = 0; i < 200; i++) await get(url); // warm up
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) await get(url);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return total / seconds;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function main() {
  // Baseline: the same handler logic on node:http, in a separate process like the worker.
  const plainPort = await freePort();
  const plain = spawn(process.execPath, ['-e', `
    require('node:http').createServer((req, res) => {
      const name = new URL(req.url, 'http://x').searchParams.get('name') || 'world';
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Hello, ' + name + '!');
    }).listen(${plainPort}, '127.0.0.1');`], { stdio: 'ignore' });
  const hostPort = await freePort();
  const host = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'fnwire.js'), 'start', path.join(__dirname, '..', '..', 'examples', 'hello-node'), '--port', String(hostPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FNWIRE_LOG: 'warn' },
  });
  await new Promise((r) => setTimeout(r, 3000));
  try {
    const plainRate = await load(`http://127.0.0.1:${plainPort}/api/hello?name=Ada`);
    const fnwireRate = await load(`http://127.0.0.1:${hostPort}/api/hello?name=Ada`);
    console.log(`requests: ${total}, concurrency: ${concurrency}`);
    console.log(`plain node:http : ${plainRate.toFixed(0)} req/s`);
    console.log(`fnwire start    : ${fnwireRate.toFixed(0)} req/s`);
    console.log(`ratio fnwire/plain: ${(fnwireRate / plainRate).toFixed(2)}`);
  } finally {
    plain.kill('SIGTERM');
    host.kill('SIGTERM');
    agent.destroy();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
