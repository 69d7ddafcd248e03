#!/usr/bin/env node
'use strict';
// Writes the package.json files of the npm layout scripts/dist.sh packs (napi-rs's layout):
//
//   platform-package.js MAIN_PACKAGE_JSON PLATFORM DIR
//       DIR/package.json of the platform package `fnwire-PLATFORM`, which carries only the
//       prebuilt addon `fnwire.PLATFORM.node`, installable only where it runs (os/cpu/libc).
//   platform-package.js --main PACKAGE_JSON PLATFORM...
//       turns a copy of the checkout's package.json into the published main package's: names the
//       platform packages in optionalDependencies, at its version, and drops the install hook that
//       builds from source (a published package has no Rust sources; without a prebuilt addon the
//       loader says what is needed, and npm runs no install script of ours).

const fs = require('node:fs');
const path = require('node:path');

// npm's os/cpu/libc fields for each platform tag the loader (lib/native.js) computes.
const PLATFORMS = {
  'linux-x64-gnu': { os: ['linux'], cpu: ['x64'], libc: ['glibc'] },
  'linux-arm64-gnu': { os: ['linux'], cpu: ['arm64'], libc: ['glibc'] },
  'linux-x64-musl': { os: ['linux'], cpu: ['x64'], libc: ['musl'] },
  'darwin-arm64': { os: ['darwin'], cpu: ['arm64'] },
  'darwin-x64': { os: ['darwin'], cpu: ['x64'] },
  'win32-x64-msvc': { os: ['win32'], cpu: ['x64'] },
};

function fail(message) {
  console.error(`platform-package.js: ${message}`);
  process.exit(2);
}

function platformFields(tag) {
  const fields = PLATFORMS[tag];
  if (!fields) fail(`unknown platform '${tag}'; known: ${Object.keys(PLATFORMS).join(', ')}`);
  return fields;
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');

const args = process.argv.slice(2);
if (args[0] === '--main') {
  const [, file, ...tags] = args;
  if (!file || tags.length === 0) fail('usage: --main PACKAGE_JSON PLATFORM...');
  const main = readJson(file);
  main.optionalDependencies = Object.fromEntries(
    tags.map((tag) => (platformFields(tag), [`${main.name}-${tag}`, main.version])),
  );
  if (main.scripts) {
    delete main.scripts.install;
    delete main.scripts.build;
  }
  main.files = main.files.filter((f) => f !== 'scripts/build-addon.js' && !f.endsWith('.node'));
  writeJson(file, main);
} else {
  const [mainFile, tag, dir] = args;
  if (!mainFile || !tag || !dir) fail('usage: MAIN_PACKAGE_JSON PLATFORM DIR');
  const main = readJson(mainFile);
  const addon = `${main.napi.binaryName}.${tag}.node`;
  if (!fs.existsSync(path.join(dir, addon))) fail(`${addon} is missing in ${dir}; copy the built addon there first`);
  writeJson(path.join(dir, 'package.json'), {
    name: `${main.name}-${tag}`,
    version: main.version,
    description: `The prebuilt native addon of ${main.name} (worker runtime and host) for ${tag}`,
    license: main.license,
    main: addon,
    files: [addon],
    ...platformFields(tag),
    engines: main.engines,
  });
}
