import { record } from './runtime.mjs';

class Metric {
  constructor(name) {
    this.name = name;
  }

  add(value, tags) {
    record(this.name, typeof value === 'boolean' ? (value ? 1 : 0) : value, tags);
  }
}

export class Trend extends Metric {}
export class Counter extends Metric {}
export class Rate extends Metric {}
export class Gauge extends Metric {}
