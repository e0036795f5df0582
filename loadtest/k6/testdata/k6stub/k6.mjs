import { rt, run } from './runtime.mjs';

export function check(value, sets) {
  let all = true;
  for (const name of Object.keys(sets)) {
    const ok = !!sets[name](value);
    rt.checks.push({ name: name, ok: ok });
    all = all && ok;
  }
  return all;
}

export function sleep(s) {
  run(rt.now + s * 1000);
}

export default { check: check, sleep: sleep };
