// The stand-in for k6's runtime under node, for the tests of the k6
// scripts (loadtest/k6/k6_test.go): a virtual clock with timers, the
// metrics and checks the script records, and the sockets and HTTP
// requests it makes, which the harness answers. One instance, shared by
// every stub module.
export const rt = {
  now: 0,
  timers: [], // {id, at, every, fn}
  nextTimer: 1,
  metrics: {}, // name -> [{value, tags}]
  checks: [], // {name, ok}
  sockets: [],
  server: null, // the harness's fake server: connect(ws), receive(ws, data), closed(ws)
  http: null, // the harness's fake API: (method, url, body, params) -> {status, body}
  requests: [],
};

Date.now = () => rt.now;

export function schedule(fn, delay, every) {
  const id = rt.nextTimer++;
  rt.timers.push({ id: id, at: rt.now + Math.max(0, delay || 0), every: every, fn: fn, seq: id });
  return id;
}

export function cancel(id) {
  rt.timers = rt.timers.filter((t) => t.id !== id);
}

// run fires timers in time order (then in the order they were set) until
// none is left or the clock would pass until.
export function run(until) {
  for (;;) {
    if (rt.timers.length === 0) {
      return;
    }
    let next = rt.timers[0];
    for (const t of rt.timers) {
      if (t.at < next.at || (t.at === next.at && t.seq < next.seq)) {
        next = t;
      }
    }
    if (next.at > until) {
      rt.now = until;
      return;
    }
    rt.now = next.at;
    if (next.every) {
      next.at += next.every;
      next.seq = rt.nextTimer++;
    } else {
      cancel(next.id);
    }
    next.fn();
  }
}

export function record(name, value, tags) {
  (rt.metrics[name] = rt.metrics[name] || []).push({ value: value, tags: tags || {} });
}
