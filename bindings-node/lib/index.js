'use strict';
// The `fnwire` package: register functions with `app.*`, describe extra bindings with
// `input.*`/`output.*`/`trigger.*`. See index.d.ts for the full API.

const { app, InvocationContext } = require('./app');
const { trigger, input, output } = require('./bindings');
const { HttpRequest } = require('./http');

module.exports = { app, trigger, input, output, HttpRequest, InvocationContext };
