#!/usr/bin/env node
'use strict';
// `npm install` hook: does nothing when a prebuilt addon is there (the platform package npm
// installed as an optional dependency, or an addon built before); otherwise builds it from source
// with the napi-rs CLI, which only a checkout of the repository can (it needs the Rust sources and
// cargo).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { locate, missingMessage } = require('../lib/addon-location');

const root = path.join(__dirname, '..');
const force = process.argv.includes('--force');
// A prebuilt addon (the platform package npm installed, or one built before) needs no build.
const found = locate();
if (found.file && !force) {
  process.exit(0);
}
if (!fs.existsSync(path.join(root, 'Cargo.toml'))) {
  // An installed package without a prebuilt addon for this platform: no Rust sources to build from.
  console.error(missingMessage(found));
  process.exit(1);
}
const cli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
if (!fs.existsSync(cli)) {
  console.error('fnwire: building the addon needs the napi-rs CLI; run `npm install` in ' + root);
  process.exit(1);
}
// Share the Cargo workspace's target directory, so a workspace build is reused.
const env = { ...process.env };
if (!env.CARGO_TARGET_DIR) env.CARGO_TARGET_DIR = path.join(root, '..', 'target');
// Release by default, as users get it; the test script asks for the dev profile
// (FNWIRE_ADDON_PROFILE=dev) so it reuses what the workspace tests compiled.
const release = (env.FNWIRE_ADDON_PROFILE || 'release') !== 'dev';
const args = [cli, 'build', '--platform', ...(release ? ['--release'] : []), '--no-js', '--dts', 'lib/native.d.ts', '--output-dir', root];
const result = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
if (result.status !== 0) {
  console.error('fnwire: building the native addon failed (see above); it needs a Rust toolchain (cargo) on PATH');
  process.exit(result.status ?? 1);
}
