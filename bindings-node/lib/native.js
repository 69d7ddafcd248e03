'use strict';
// Loads the native addon for this platform (addon-location.js says where it is looked for).

const { locate, missingMessage } = require('./addon-location');

const found = locate();
if (!found.file) throw new Error(missingMessage(found));
module.exports = require(found.file);
