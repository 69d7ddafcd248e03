'use strict';
// The app's entry files: package.json `main`, which may be a glob (`src/functions/*.js`) as
// Azure Functions allows.

const fs = require('node:fs');
const path = require('node:path');

function segmentRegex(segment) {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = segment.indexOf('}', i);
      if (end === -1) {
        re += '\\{';
        continue;
      }
      re += `(?:${segment
        .slice(i + 1, end)
        .split(',')
        .map((p) => p.replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
        .join('|')})`;
      i = end;
    } else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function expand(dir, segments, out) {
  if (segments.length === 0) {
    if (fs.statSync(dir, { throwIfNoEntry: false })?.isFile()) out.push(dir);
    return;
  }
  const [head, ...rest] = segments;
  if (head === '**') {
    expand(dir, rest, out);
    for (const entry of safeReaddir(dir)) {
      if (entry.isDirectory() && entry.name !== 'node_modules' && !entry.name.startsWith('.')) {
        expand(path.join(dir, entry.name), segments, out);
      }
    }
    return;
  }
  if (!/[*?{]/.test(head)) {
    expand(path.join(dir, head), rest, out);
    return;
  }
  const re = segmentRegex(head);
  for (const entry of safeReaddir(dir)) {
    if (re.test(entry.name)) expand(path.join(dir, entry.name), rest, out);
  }
}

function safeReaddir(dir) {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/**
 * `src/{index.js,functions/*.js}` → `src/index.js`, `src/functions/*.js`. Braces are expanded
 * before the pattern is split into path segments, because an alternative may span several
 * (Azure's v4 templates write exactly that).
 */
function expandBraces(pattern) {
  const open = pattern.indexOf('{');
  if (open === -1) return [pattern];
  let depth = 0;
  const commas = [];
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '{') depth++;
    else if (c === ',' && depth === 1) commas.push(i);
    else if (c === '}' && --depth === 0) {
      if (commas.length === 0) break; // `{a}` is literal, as in globby
      const bounds = [open, ...commas, i];
      const head = pattern.slice(0, open);
      const tail = pattern.slice(i + 1);
      return bounds.slice(1).flatMap((end, k) => expandBraces(head + pattern.slice(bounds[k] + 1, end) + tail));
    }
  }
  return [pattern];
}

/** Absolute paths of the entry files of the app in `appDir`, sorted; throws with advice if none. */
function entryFiles(appDir) {
  const manifest = path.join(appDir, 'package.json');
  let main = 'index.js';
  if (fs.existsSync(manifest)) {
    let pkg;
    try {
      pkg = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    } catch (e) {
      throw new Error(`fnwire: ${manifest} is not valid JSON (${e.message}); fix it so the app's entry files can be found`);
    }
    if (typeof pkg.main === 'string' && pkg.main.trim() !== '') main = pkg.main.trim();
  }
  const out = [];
  for (const alternative of expandBraces(main.replace(/\\/g, '/'))) {
    const pattern = alternative.replace(/^\.\//, '');
    expand(appDir, pattern.split('/').filter((s) => s !== '' && s !== '.'), out);
  }
  if (out.length === 0) {
    throw new Error(
      `fnwire: package.json \`main\` is ${JSON.stringify(main)}, but no file in ${appDir} matches it; ` +
        'point `main` at the file(s) that register functions, e.g. "src/functions/*.js"',
    );
  }
  return [...new Set(out)].sort();
}

module.exports = { entryFiles, expandBraces, segmentRegex };
