/**
 * Script run in every block isolate before the block's bundle. It turns the one host Reference into
 * the `ctx` object blocks see and exposes `__describe`, `__invokeSync` and `__await` to the host. Everything crosses
 * the boundary as JSON strings (copied), so no host object is ever reachable from block code.
 */
export const BOOTSTRAP = String.raw`
(function () {
  'use strict';
  const hostRef = globalThis.__host;
  delete globalThis.__host;
  const JSONparse = JSON.parse, JSONstringify = JSON.stringify;
  // Captured before block code runs: the block may replace Promise, its prototype or Reflect.
  const PromiseCtor = Promise, promiseThen = Promise.prototype.then, apply = Reflect.apply, allSettled = Promise.allSettled;
  const opts = { arguments: { copy: true }, result: { promise: true, copy: true } };
  function fail(reply) {
    const e = new Error(reply.message);
    e.code = reply.code;
    return e;
  }
  // Host calls each invocation has made, so a handler that returns synchronously but fired calls
  // (a log line, an unawaited publish) is only finished once those calls were answered.
  const issued = new Map();
  function call(id, op, args) {
    const p = hostRef.apply(undefined, [id, op, JSONstringify(args === undefined ? null : args)], opts).then(function (text) {
      const reply = JSONparse(text);
      if (!reply.ok) throw fail(reply);
      return reply.value;
    });
    const list = issued.get(id);
    if (list !== undefined) list.push(p);
    return p;
  }
  function logFn(id, level) {
    return function (message, fields) {
      try {
        // Fire and forget: logging must not make a handler wait or fail.
        call(id, 'log', { level: level, message: String(message), fields: fields === undefined ? null : fields }).catch(function () {});
      } catch (e) {}
    };
  }
  function makeCtx(id, info) {
    const secrets = info.secrets || {};
    const kv = {
      // JSON has no undefined: the host answers a missing key with null; the API promises undefined.
      get: function (key) { return call(id, 'kv.get', { key: key }).then(function (v) { return v === null ? undefined : v; }); },
      set: function (key, value, o) { return call(id, 'kv.set', { key: key, value: value, ttlSeconds: o && o.ttlSeconds }); },
      incr: function (key, by, o) { return call(id, 'kv.incr', { key: key, by: by === undefined ? 1 : by, ttlSeconds: o && o.ttlSeconds }); },
      del: function (key) { return call(id, 'kv.del', { key: key }); },
      getJson: function (key) { return kv.get(key).then(function (v) { return v === undefined || v === null ? undefined : JSONparse(v); }); },
      setJson: function (key, value, o) { return kv.set(key, JSONstringify(value), o); },
    };
    return Object.freeze({
      block: Object.freeze({ name: info.name, version: info.version }),
      config: Object.freeze(info.config || {}),
      publish: function (channel, data, o) { return call(id, 'publish', { channel: channel, data: data, msgId: o && o.msgId }); },
      kv: Object.freeze(kv),
      fetch: function (url, init) {
        return call(id, 'fetch', { url: String(url), init: init || {} }).then(function (r) {
          return { status: r.status, headers: r.headers, text: r.text, json: function () { return JSONparse(r.text); } };
        });
      },
      log: Object.freeze({ debug: logFn(id, 'debug'), info: logFn(id, 'info'), warn: logFn(id, 'warn'), error: logFn(id, 'error') }),
      secrets: Object.freeze({ get: function (name) { return Object.prototype.hasOwnProperty.call(secrets, name) ? secrets[name] : undefined; } }),
      call: function (module, method, args) { return call(id, 'call', { module: String(module), method: String(method), args: args === undefined ? null : args }); },
    });
  }
  function definition() {
    const mod = globalThis.__tributaryBlock;
    const def = mod && (mod.default || mod);
    if (!def || typeof def !== 'object' || typeof def.handle !== 'function') {
      throw new Error('the entry file must "export default defineBlock({ name, trigger, handle })"');
    }
    return def;
  }
  // What goes back to the host is always a JSON string built here ({ ok, value } or { ok, message }),
  // never a value of the block's, and __invoke's promise never rejects. isolated-vm copies a settled
  // promise's value while holding a lock the host's event loop may wait on, and copying an Error
  // reads its stack, which runs the block's Error.prepareStackTrace: a block making that spin froze
  // the whole host, timers included. Reading the message below runs block code too, but as an
  // ordinary microtask, which the CPU and wall limits cover.
  function failure(err) {
    let message = 'the handler failed';
    try {
      message = err instanceof Error ? String(err.message) : String(err);
    } catch (e) {}
    return JSONstringify({ ok: false, message: message });
  }
  globalThis.__describe = function () {
    try {
      const def = definition();
      return JSONstringify({ ok: true, value: {
        name: def.name, trigger: def.trigger, publishes: def.publishes, fetchAllow: def.fetchAllow, limits: def.limits,
        concurrency: def.concurrency,
      } });
    } catch (err) {
      return failure(err);
    }
  };
  // Called synchronously by the host. A handler that returns a plain value without touching the host
  // is answered in this same call, with no hop through a promise (the warm path of a transform).
  // Otherwise the reply is parked under the invocation id for __await and '' is returned.
  const parked = new Map();
  globalThis.__invokeSync = function (id, inputJson, infoJson) {
    const calls = [];
    issued.set(id, calls);
    let out;
    try {
      out = definition().handle(JSONparse(inputJson), makeCtx(id, JSONparse(infoJson)));
    } catch (err) {
      issued.delete(id);
      return failure(err);
    }
    let thenable = false;
    try {
      thenable = out !== null && (typeof out === 'object' || typeof out === 'function') && typeof out.then === 'function';
    } catch (err) {
      issued.delete(id);
      return failure(err);
    }
    if (!thenable && calls.length === 0) {
      issued.delete(id);
      try {
        return JSONstringify({ ok: true, value: out === undefined ? null : out });
      } catch (err) {
        return failure(err);
      }
    }
    parked.set(id, new PromiseCtor(function (resolve) {
      function settle(reply) {
        // Wait for the calls the handler fired (even unawaited ones) before declaring it done.
        const all = issued.get(id) || [];
        issued.delete(id);
        const done = function () { resolve(reply); };
        apply(promiseThen, apply(allSettled, PromiseCtor, [all]), [done, done]);
      }
      function ok(result) {
        try {
          settle(JSONstringify({ ok: true, value: result === undefined ? null : result }));
        } catch (err) {
          settle(failure(err));
        }
      }
      function bad(err) { settle(failure(err)); }
      apply(promiseThen, new PromiseCtor(function (r) { r(out); }), [ok, bad]);
    }));
    return '';
  };
  globalThis.__await = function (id) {
    const p = parked.get(id);
    parked.delete(id);
    return p === undefined ? failure(new Error('no parked invocation')) : p;
  };
})();
`;
