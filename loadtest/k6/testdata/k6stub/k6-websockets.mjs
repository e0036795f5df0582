import { rt, schedule } from './runtime.mjs';

// WebSocket as k6/websockets: the harness's fake server answers it.
export class WebSocket {
  constructor(url, protocols, params) {
    this.url = url;
    this.params = params || {};
    this.readyState = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    rt.sockets.push(this);
    rt.server.connect(this);
  }

  send(data) {
    if (this.readyState !== 1) {
      throw new Error('InvalidStateError: send on a socket that is not open');
    }
    rt.server.receive(this, data);
  }

  close() {
    if (this.readyState >= 2) {
      return;
    }
    this.readyState = 3;
    rt.server.closed(this);
    schedule(() => this.onclose && this.onclose({ code: 1000 }), 1);
  }

  // deliver is the server's side: a text frame to the script.
  deliver(data) {
    if (this.readyState === 1 && this.onmessage) {
      this.onmessage({ data: data });
    }
  }

  opened() {
    this.readyState = 1;
    if (this.onopen) {
      this.onopen();
    }
  }
}
