import { rt } from './runtime.mjs';

// A response as k6/http's: status, body, json([path]) with dotted paths.
function response(r) {
  return {
    status: r.status,
    body: r.body === undefined ? '' : JSON.stringify(r.body),
    json(path) {
      let v = r.body;
      if (path) {
        for (const k of path.split('.')) {
          v = v === undefined || v === null ? undefined : v[k];
        }
      }
      return v;
    },
  };
}

export function request(method, url, body, params) {
  const req = { method: method, url: url, body: body === undefined || body === null ? null : JSON.parse(body), params: params || {} };
  rt.requests.push(req);
  return response(rt.http(req));
}

export const get = (url, params) => request('GET', url, null, params);
export const post = (url, body, params) => request('POST', url, body, params);
export const put = (url, body, params) => request('PUT', url, body, params);

export function expectedStatuses(...statuses) {
  return { expected: statuses };
}

export default { request: request, get: get, post: post, put: put, expectedStatuses: expectedStatuses };
