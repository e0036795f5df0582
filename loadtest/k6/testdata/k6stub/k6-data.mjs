// k6/data SharedArray: built once; reading an element gives a copy.
export class SharedArray {
  constructor(name, fn) {
    const items = fn().map((x) => JSON.stringify(x));
    return new Proxy(items, {
      get(target, prop) {
        if (prop === 'length') {
          return target.length;
        }
        if (typeof prop === 'string' && /^\d+$/.test(prop)) {
          return target[prop] === undefined ? undefined : JSON.parse(target[prop]);
        }
        return undefined;
      },
    });
  }
}
