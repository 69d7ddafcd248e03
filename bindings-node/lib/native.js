'use strict';
// Loads the native addon built by `npm install` (napi build) for this platform.

const fs = require('node:fs');
const path = require('node:path');

function platformTag() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime;
    return `${platform}-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (platform === 'win32') return `${platform}-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function load() {
  const root = path.join(__dirname, '..');
  const tag = platformTag();
  const candidates = [`fnwire.${tag}.node`, 'fnwire.node'];
  for (const file of candidates) {
    const full = path.join(root, file);
    if (fs.existsSync(full)) return require(full);
  }
  throw new Error(
    `fnwire: the native addon for ${tag} is not built (looked for ${candidates.join(', ')} in ${root}). ` +
      'Build it with `npm install` in the fnwire package directory (needs a Rust toolchain), ' +
      'or install a package that was packed after building it.',
  );
}

module.exports = load();
