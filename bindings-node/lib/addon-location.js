'use strict';
// Where the native addon (the worker runtime and the host) for this platform is: first the prebuilt
// one of the platform package npm installed as an optional dependency (`fnwire-linux-x64-gnu`, ...),
// then one built from source in this directory (a checkout of the repository, by `npm install`).
// Used by the loader (native.js) and by the install hook (scripts/build-addon.js), which builds
// from source only when neither is there.

const fs = require('node:fs');
const path = require('node:path');

// musl or glibc. `process.report.getReport()` answers too, but builds a whole diagnostic report
// (20-60 ms measured on a loaded 2-core machine), which every worker start would pay; `ldd`, a
// script on glibc systems and a link to the musl loader on musl ones, says it in one small read,
// as napi-rs's own loader checks first.
function isMusl() {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'latin1').includes('musl');
  } catch {
    return !process.report?.getReport?.().header?.glibcVersionRuntime;
  }
}

function platformTag() {
  const { platform, arch } = process;
  if (platform === 'linux') return `${platform}-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (platform === 'win32') return `${platform}-${arch}-msvc`;
  return `${platform}-${arch}`;
}

// The addon to load and where it was looked for: `{ file }` or `{ looked: [...] }`.
function locate() {
  const root = path.join(__dirname, '..');
  const tag = platformTag();
  const platformPackage = `fnwire-${tag}`;
  const looked = [];
  try {
    return { file: require.resolve(platformPackage), tag };
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    looked.push(`the package ${platformPackage}`);
  }
  for (const name of [`fnwire.${tag}.node`, 'fnwire.node']) {
    const full = path.join(root, name);
    if (fs.existsSync(full)) return { file: full, tag };
    looked.push(full);
  }
  return { looked, tag, platformPackage, root };
}

function missingMessage({ looked, tag, platformPackage, root }) {
  return (
    `fnwire: no native addon for ${tag} (looked for ${looked.join(', ')}). ` +
    `Prebuilt addons come in ${platformPackage}, an optional dependency of fnwire: if npm skipped it ` +
    '(`--omit=optional`, `--no-optional`, or a lockfile made on another platform), reinstall fnwire. ' +
    `If no ${platformPackage} is published for this platform, build the addon from source: ` +
    'in a checkout of the fnwire repository run `npm install` in bindings-node (needs a Rust ' +
    `toolchain, cargo, on PATH) and depend on that directory. Package directory: ${root}.`
  );
}

module.exports = { locate, missingMessage };
