// ESM entry: the same module instance as `require('fnwire')`, so both styles register into one app.
import fnwire from './index.js';

export const { app, trigger, input, output, HttpRequest, InvocationContext } = fnwire;
export default fnwire;
