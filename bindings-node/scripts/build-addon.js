#!/usr/bin/env node
'use strict';
// `npm install` hook: builds the native addon with the napi-rs CLI when it is missing (a checkout
// of the repository), and does nothing when it is already there (an installed package).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const force = process.argv.includes('--force');
const built = fs.readdirSync(root).filter((f) => /^fnwire\..+\.node$/.test(f));
if (built.length > 0 && !force) {
  process.exit(0);
}
if (!fs.existsSync(path.join(root, 'Cargo.toml'))) {
  console.error(
    `fnwire: no native addon for ${process.platform}-${process.arch} in ${root}, and no Rust sources to build one. ` +
      'Install a package that was packed after building the addon on this platform.',
  );
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
