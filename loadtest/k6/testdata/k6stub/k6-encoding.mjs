// k6/encoding: b64encode(string | ArrayBuffer, 'std' | 'rawstd' | 'url' | 'rawurl').
function bytes(input) {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(new Uint8Array(input));
}

export function b64encode(input, enc) {
  const e = enc || 'std';
  let s = bytes(input).toString(e === 'url' || e === 'rawurl' ? 'base64url' : 'base64');
  if (e === 'url') {
    s += '='.repeat((4 - (s.length % 4)) % 4);
  }
  if (e === 'rawstd') {
    s = s.replace(/=+$/, '');
  }
  return s;
}

export function b64decode(input, enc, format) {
  const b = Buffer.from(input, enc === 'url' || enc === 'rawurl' ? 'base64url' : 'base64');
  return format === 's' ? b.toString('utf8') : new Uint8Array(b).buffer;
}

export default { b64encode: b64encode, b64decode: b64decode };
