/**
 * Script run in every block isolate before the block's bundle. It builds the `ctx` object blocks see
 * and defines the bridge functions the host takes references to before the bundle runs (and then
 * deletes from the global): `__describe`, `__invoke`, `__reply` and `__drain`. The isolate holds no
 * reference to anything in the host: a host call is queued in an outbox here, the host collects the
 * outbox with `__drain` after each call it makes into the isolate, and answers with `__reply`. So
 * block code runs only inside the host's synchronous calls, each bounded by a CPU timeout, and on the
 * host's thread (no hand-off to another thread and back per call). Everything crosses as JSON
 * strings, so no host object is ever reachable from block code.
 */
import { MAX_LIMITS } from './limits.js';

/**
 * Host calls one invocation may hand the host when its caps carry no `calls` (the sandbox's own
 * `callsPerInvocation`): the most any block may ask for, so the isolate never refuses a call the host
 * would allow.
 */
export const CALL_CEILING = MAX_LIMITS.callsPerInvocation;

export const BOOTSTRAP = String.raw`
(function () {
  'use strict';
  const JSONparse = JSON.parse, JSONstringify = JSON.stringify;
  // Captured before block code runs: the block may replace Promise, its prototype, Reflect, Map or
  // Array methods. The bridge below uses only these, string concatenation and index assignments; a
  // block that tampers with what those reach can only break its own invocations.
  const PromiseCtor = Promise, promiseThen = Promise.prototype.then, promiseReject = Promise.reject, apply = Reflect.apply, allSettled = Promise.allSettled;
  const MapCtor = Map, mapGet = Map.prototype.get, mapSet = Map.prototype.set, mapDelete = Map.prototype.delete;
  const StringCtor = String, strSlice = String.prototype.slice;
  // Cuts text longer than max to max characters; slice and length cannot be tampered with through a
  // primitive string's own properties, and strSlice was captured above.
  function cut(text, max) { return text.length > max ? apply(strSlice, text, [0, max]) : text; }
  function fail(reply) {
    const e = new Error(reply.message);
    e.code = reply.code;
    return e;
  }
  // What __drain hands over next, as JSON text built by concatenating primitives, which no prototype
  // the block may tamper with (Array.prototype.toJSON, an index setter) can reach. Host calls:
  // [invocation id, call id, op, args] each; settled invocations: [invocation id, reply, log lines
  // dropped]. Args and
  // replies are JSON texts from JSON.stringify, embedded as they are: each is one JSON value (or, if
  // the block broke JSON.stringify, not JSON at all, which fails its invocation on the host).
  let outbox = '';
  let finished = '';
  // Call id → resolve function of the promise that call is waiting on.
  const waiting = new MapCtor();
  let nextCall = 1;
  // Host calls each invocation has made, so a handler that returns synchronously but fired calls
  // (a log line, an unawaited publish) is only finished once those calls were answered.
  const issued = new MapCtor();
  // Calls (all but log lines, as the host counts them) each live invocation has handed the host.
  // callsPerInvocation bounds what the host sees, not only what it answers: past caps.calls + 1 a
  // call is refused here with CALL_LIMIT and never reaches the outbox (200k calls fired in one slice
  // once went out in one 6.3 MB drain, each refusal a reply round into the isolate). The call just
  // past the cap still goes out: the host refuses it with CALL_LIMIT itself, and records that
  // refusal, which is what a handler failing afterwards is classified by.
  // One rejected promise per invocation serves every refused call: a fresh rejection costs ~65 µs
  // in isolated-vm (its unhandled-rejection hook), 13 s for 200k calls.
  const counted = new MapCtor();
  function overCap(id, caps) {
    const c = apply(mapGet, counted, [id]);
    if (c === undefined) return false;
    const cap = typeof caps.calls === 'number' ? caps.calls : ${CALL_CEILING};
    if (c.n > cap) {
      if (c.refusal === undefined) {
        const e = new Error('more than ' + cap + ' host calls in one invocation (refused inside the isolate)');
        e.code = 'CALL_LIMIT';
        c.refusal = apply(promiseReject, PromiseCtor, [e]);
        apply(promiseThen, c.refusal, [undefined, function () {}]);
      }
      return c.refusal;
    }
    c.n++;
    return false;
  }
  // A host call's arguments are measured here, as their JSON, before anything is copied out (a
  // 90 MB publish was once copied whole to the host before the broker refused it): over caps.args,
  // the call goes out as a 'tooLarge' call carrying only the size, which the host refuses with
  // PAYLOAD_TOO_LARGE (so the code, and the invocation's failure, are the host's, not the block's).
  // argsJson, when given, is the arguments' JSON already built by the caller.
  function call(id, op, args, caps, argsJson) {
    if (op !== 'log') {
      const refused = overCap(id, caps);
      if (refused !== false) return refused;
    }
    return send(id, op, args, caps, argsJson);
  }
  function send(id, op, args, caps, argsJson) {
    if (argsJson === undefined) argsJson = JSONstringify(args === undefined ? null : args);
    if (typeof argsJson === 'string' && argsJson.length > caps.args) return tooLargeCall(id, 'args', argsJson.length, caps, op);
    const callId = nextCall++;
    const answered = new PromiseCtor(function (resolve) { apply(mapSet, waiting, [callId, resolve]); });
    outbox += (outbox === '' ? '[' : ',[') + id + ',' + callId + ',' + JSONstringify(op) + ',' + argsJson + ']';
    const p = apply(promiseThen, answered, [function (text) {
      const reply = JSONparse(text);
      if (!reply.ok) throw fail(reply);
      return reply.value;
    }]);
    const list = apply(mapGet, issued, [id]);
    if (list !== undefined) list[list.length] = p;
    return p;
  }
  // Asks the host to refuse an oversized argument: what it was ('publish' data, 'kv' value, 'fetch'
  // body, or a call's 'args'), its size, and the operation.
  // Counts against the call cap, as the host counts it (tooLargeCall: already counted by call).
  function tooLarge(id, what, size, caps, op) {
    const refused = overCap(id, caps);
    if (refused !== false) return refused;
    return tooLargeCall(id, what, size, caps, op);
  }
  function tooLargeCall(id, what, size, caps, op) {
    return send(id, 'tooLarge', null, caps, '{"what":' + JSONstringify(what) + ',"size":' + size + ',"op":' + JSONstringify(op) + '}');
  }
  // Log lines are bounded here, before anything is copied to the host (a 20 MB line copied out on
  // every call once took the whole process down): per invocation, caps.lines lines and caps.chars
  // characters; past either, lines are dropped and counted (the count goes out with the
  // invocation's outcome). A message or the fields' JSON is cut to caps.lineChars + caps.slack: the
  // host cuts to caps.lineChars after redacting secrets, and the slack (the longest secret) keeps a
  // secret that straddles the cut whole for the redaction. The full length goes along for the
  // host's "cut" marker.
  function logFn(id, level, caps, budget) {
    return function (message, fields) {
      try {
        if (budget.lines >= caps.lines || budget.chars >= caps.chars) { budget.dropped++; return; }
        const text = StringCtor(message);
        if (typeof text !== 'string') return;
        let json = null;
        if (fields !== undefined && fields !== null) {
          json = JSONstringify(fields);
          if (typeof json !== 'string') json = null;
        }
        const jsonLength = json === null ? 0 : json.length;
        const size = (text.length > caps.lineChars ? caps.lineChars : text.length) + (jsonLength > caps.lineChars ? caps.lineChars : jsonLength);
        if (budget.chars + size > caps.chars) { budget.dropped++; return; }
        budget.lines++;
        budget.chars += size;
        const keep = caps.lineChars + caps.slack;
        // Fire and forget: logging must not make a handler wait or fail.
        apply(promiseThen, call(id, 'log', { level: level, message: cut(text, keep), length: text.length,
          fields: json === null ? null : cut(json, keep), fieldsLength: jsonLength }, caps), [undefined, function () {}]);
      } catch (e) {}
    };
  }
  function makeCtx(id, info, budget) {
    const caps = info.caps;
    const secrets = info.secrets || {};
    const host = function (op, args, json) { return call(id, op, args, caps, json); };
    const kv = {
      // JSON has no undefined: the host answers a missing key with null; the API promises undefined.
      get: function (key) { return host('kv.get', { key: key }).then(function (v) { return v === null ? undefined : v; }); },
      set: function (key, value, o) {
        if (typeof value === 'string' && value.length > caps.kv) return tooLarge(id, 'kv', value.length, caps, 'kv.set');
        return host('kv.set', { key: key, value: value, ttlSeconds: o && o.ttlSeconds });
      },
      incr: function (key, by, o) { return host('kv.incr', { key: key, by: by === undefined ? 1 : by, ttlSeconds: o && o.ttlSeconds }); },
      del: function (key) { return host('kv.del', { key: key }); },
      getJson: function (key) { return kv.get(key).then(function (v) { return v === undefined || v === null ? undefined : JSONparse(v); }); },
      setJson: function (key, value, o) { return kv.set(key, JSONstringify(value), o); },
    };
    return Object.freeze({
      block: Object.freeze({ name: info.name, version: info.version }),
      config: Object.freeze(info.config || {}),
      // The data's JSON is measured on its own (against the broker's max payload) and then embedded
      // in the arguments as it is, so a message is stringified once.
      publish: function (channel, data, o) {
        const dataJson = data === undefined ? undefined : JSONstringify(data);
        if (typeof dataJson === 'string' && dataJson.length > caps.payload) return tooLarge(id, 'publish', dataJson.length, caps, 'publish');
        const channelJson = JSONstringify(channel === undefined ? null : channel);
        const msgId = o && o.msgId;
        return host('publish', null, '{"channel":' + (typeof channelJson === 'string' ? channelJson : 'null') +
          (typeof dataJson === 'string' ? ',"data":' + dataJson : '') +
          (typeof msgId === 'string' ? ',"msgId":' + JSONstringify(msgId) : '') + '}');
      },
      kv: Object.freeze(kv),
      fetch: function (url, init) {
        const body = init && init.body;
        if (typeof body === 'string' && body.length > caps.fetchBody) return tooLarge(id, 'fetch', body.length, caps, 'fetch');
        return host('fetch', { url: String(url), init: init || {} }).then(function (r) {
          return { status: r.status, headers: r.headers, text: r.text, json: function () { return JSONparse(r.text); } };
        });
      },
      log: Object.freeze({ debug: logFn(id, 'debug', caps, budget), info: logFn(id, 'info', caps, budget),
        warn: logFn(id, 'warn', caps, budget), error: logFn(id, 'error', caps, budget) }),
      secrets: Object.freeze({ get: function (name) { return Object.prototype.hasOwnProperty.call(secrets, name) ? secrets[name] : undefined; } }),
      call: function (module, method, args) { return host('call', { module: String(module), method: String(method), args: args === undefined ? null : args }); },
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
  // The message is cut here (caps.error + caps.slack, as for log lines), with its full length, so a
  // 90 MB error message is not copied out either.
  function failure(err, caps) {
    let message = 'the handler failed';
    try {
      message = err instanceof Error ? StringCtor(err.message) : StringCtor(err);
      if (typeof message !== 'string') message = 'the handler failed';
    } catch (e) {}
    const keep = caps === undefined ? 4096 : caps.error + caps.slack;
    return '{"ok":false,"message":' + JSONstringify(cut(message, keep)) + ',"length":' + message.length + '}';
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
  // Called by the host to start an invocation. Its outcome is reported through a drain once the
  // handler has settled and every call it made was answered.
  globalThis.__invoke = function (id, inputJson, infoJson) {
    const calls = [];
    apply(mapSet, issued, [id, calls]);
    apply(mapSet, counted, [id, { n: 0, refusal: undefined }]);
    const info = JSONparse(infoJson);
    const caps = info.caps;
    // Log lines this invocation wrote, their characters, and the lines it dropped (see logFn).
    const budget = { lines: 0, chars: 0, dropped: 0 };
    function settle(reply) {
      // Wait for the calls the handler fired (even unawaited ones) before declaring it done.
      const all = apply(mapGet, issued, [id]) || [];
      apply(mapDelete, issued, [id]);
      apply(mapDelete, counted, [id]);
      const done = function () { finished += (finished === '' ? '[' : ',[') + id + ',' + reply + ',' + budget.dropped + ']'; };
      if (all.length === 0) done();
      else apply(promiseThen, apply(allSettled, PromiseCtor, [all]), [done, done]);
    }
    // The result's JSON is measured here, before anything is copied out: over caps.result, only its
    // size goes to the host (RESULT_TOO_LARGE). The reply is built by concatenation, so a toJSON the
    // block put on Object.prototype cannot reshape it.
    function ok(result) {
      try {
        let json = result === undefined ? 'null' : JSONstringify(result);
        if (typeof json !== 'string') json = 'null';
        if (json.length > caps.result) settle('{"ok":false,"tooLarge":' + json.length + '}');
        else settle('{"ok":true,"value":' + json + '}');
      } catch (err) {
        settle(failure(err, caps));
      }
    }
    let out;
    try {
      out = definition().handle(JSONparse(inputJson), makeCtx(id, info, budget));
    } catch (err) {
      settle(failure(err, caps));
      return;
    }
    let thenable = false;
    try {
      thenable = out !== null && (typeof out === 'object' || typeof out === 'function') && typeof out.then === 'function';
    } catch (err) {
      settle(failure(err, caps));
      return;
    }
    // A plain value settles now: the host reads it with the __drain that follows this call.
    if (!thenable) ok(out);
    else apply(promiseThen, new PromiseCtor(function (r) { r(out); }), [ok, function (err) { settle(failure(err, caps)); }]);
    // What the synchronous part produced: a plain handler's outcome is answered in this one call
    // (the warm path of a transform); the host drains again for what microtasks add.
    return drain();
  };
  // The host's answer to a call (a JSON reply); unknown ids (a call of a disposed generation) are ignored.
  globalThis.__reply = function (callId, text) {
    const resolve = apply(mapGet, waiting, [callId]);
    if (resolve === undefined) return;
    apply(mapDelete, waiting, [callId]);
    resolve(text);
  };
  // What happened since the last drain, as one JSON string ('' for nothing): [calls, finished].
  // Microtasks have run by now: the host calls this right after the call that queued them.
  function drain() {
    if (outbox === '' && finished === '') return '';
    const text = '[[' + outbox + '],[' + finished + ']]';
    outbox = '';
    finished = '';
    return text;
  }
  globalThis.__drain = drain;
})();
`;
