'use strict';
// Binding descriptions: `trigger.*`, `input.*`, `output.*`. They only collect options; the Rust
// core checks them with fnwire's one binding front end when a function is registered.

const BINDING = Symbol.for('fnwire.binding');

function describe(kind, options, helper) {
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
    throw new TypeError(`fnwire: ${helper}() takes an options object, got ${JSON.stringify(options)}`);
  }
  return Object.freeze({ [BINDING]: true, kind, helper, options: { ...(options ?? {}) } });
}

function generic(direction, helper) {
  return (options) => {
    const binding = describe('binding', options, helper);
    if (options && options.direction === undefined) binding.options.direction = direction;
    return binding;
  };
}

/** Azure's v4 Node.js model: an HTTP trigger that names no `authLevel` is anonymous. */
function httpTriggerOptions(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return options;
  return options.authLevel === undefined ? { ...options, authLevel: 'anonymous' } : options;
}

/** @azure/functions spells the Service Bus options `queueName`, `topicName` and
 * `subscriptionName`; fnwire's catalog calls them `queue`, `topic` and `subscription`. */
function serviceBusOptions(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return options;
  const renamed = { queueName: 'queue', topicName: 'topic', subscriptionName: 'subscription' };
  return Object.fromEntries(Object.entries(options).map(([k, v]) => [renamed[k] ?? k, v]));
}

const trigger = Object.freeze({
  http: (options) => describe('http_trigger', httpTriggerOptions(options ?? {}), 'trigger.http'),
  timer: (options) => describe('timer_trigger', options, 'trigger.timer'),
  queue: (options) => describe('queue_trigger', options, 'trigger.queue'),
  storageBlob: (options) => describe('blob_trigger', options, 'trigger.storageBlob'),
  rabbitMQ: (options) => describe('rabbitmq_trigger', options, 'trigger.rabbitMQ'),
  serviceBusQueue: (options) => describe('service_bus_trigger', serviceBusOptions(options), 'trigger.serviceBusQueue'),
  serviceBusTopic: (options) => describe('service_bus_trigger', serviceBusOptions(options), 'trigger.serviceBusTopic'),
  generic: generic('in', 'trigger.generic'),
});

const input = Object.freeze({
  blob: (options) => describe('blob_input', options, 'input.blob'),
  table: (options) => describe('table_input', options, 'input.table'),
  generic: generic('in', 'input.generic'),
});

const output = Object.freeze({
  http: (options) => describe('http_output', options, 'output.http'),
  queue: (options) => describe('queue_output', options, 'output.queue'),
  blob: (options) => describe('blob_output', options, 'output.blob'),
  table: (options) => describe('table_output', options, 'output.table'),
  rabbitMQ: (options) => describe('rabbitmq_output', options, 'output.rabbitMQ'),
  serviceBusQueue: (options) => describe('service_bus_output', serviceBusOptions(options), 'output.serviceBusQueue'),
  serviceBusTopic: (options) => describe('service_bus_output', serviceBusOptions(options), 'output.serviceBusTopic'),
  generic: generic('out', 'output.generic'),
});

function isBinding(value) {
  return value !== null && typeof value === 'object' && value[BINDING] === true;
}

// A stable default name for an extra binding: its kind plus a hash of its options, so the same
// declaration gets the same name in every worker process.
function defaultName(binding, role) {
  const text = JSON.stringify([binding.kind, binding.options]);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  // `input.blob` -> `blobInput`; a generic binding is named after its type.
  const [group, what] = binding.helper.split('.');
  const base = (binding.options.type ?? `${what}${group[0].toUpperCase()}${group.slice(1)}`).replace(/[^A-Za-z0-9]/g, '');
  const suffix = role === 'in' ? 'Input' : role === 'out' ? 'Output' : '';
  const stem = /^[A-Za-z]/.test(base) ? base : `binding${base}`;
  return `${stem}${base.endsWith(suffix) ? '' : suffix}${hash.toString(16).padStart(8, '0')}`;
}

module.exports = { trigger, input, output, isBinding, defaultName, httpTriggerOptions, serviceBusOptions };
