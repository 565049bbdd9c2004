/**
 * Script run in every block isolate before the block's bundle. It turns the one host Reference into
 * the `ctx` object blocks see and exposes `__describe` / `__invoke` to the host. Everything crosses
 * the boundary as JSON strings (copied), so no host object is ever reachable from block code.
 */
export const BOOTSTRAP = String.raw`
(function () {
  'use strict';
  const hostRef = globalThis.__host;
  delete globalThis.__host;
  const JSONparse = JSON.parse, JSONstringify = JSON.stringify;
  // Captured before block code runs: the block may replace Promise, its prototype or Reflect.
  const PromiseCtor = Promise, promiseThen = Promise.prototype.then, apply = Reflect.apply;
  const opts = { arguments: { copy: true }, result: { promise: true, copy: true } };
  function fail(reply) {
    const e = new Error(reply.message);
    e.code = reply.code;
    return e;
  }
  function call(id, op, args) {
    return hostRef.apply(undefined, [id, op, JSONstringify(args === undefined ? null : args)], opts).then(function (text) {
      const reply = JSONparse(text);
      if (!reply.ok) throw fail(reply);
      return reply.value;
    });
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
      } });
    } catch (err) {
      return failure(err);
    }
  };
  globalThis.__invoke = function (id, inputJson, infoJson) {
    return new PromiseCtor(function (resolve) {
      function ok(result) {
        try {
          resolve(JSONstringify({ ok: true, value: result === undefined ? null : result }));
        } catch (err) {
          resolve(failure(err));
        }
      }
      function bad(err) { resolve(failure(err)); }
      try {
        const def = definition();
        const out = def.handle(JSONparse(inputJson), makeCtx(id, JSONparse(infoJson)));
        apply(promiseThen, new PromiseCtor(function (r) { r(out); }), [ok, bad]);
      } catch (err) {
        bad(err);
      }
    });
  };
})();
`;
