import nodeCrypto from 'node:crypto';

function bytes(input) {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(new Uint8Array(input));
}

// hmac(algorithm, secret, data, outputEncoding) as k6/crypto.
export function hmac(alg, secret, data, out) {
  const d = nodeCrypto.createHmac(alg, bytes(secret)).update(bytes(data)).digest();
  switch (out) {
    case 'hex':
      return d.toString('hex');
    case 'base64':
      return d.toString('base64');
    case 'base64url':
      return d.toString('base64url') + '='.repeat((4 - (d.toString('base64url').length % 4)) % 4);
    case 'base64rawurl':
      return d.toString('base64url');
    default:
      return Array.from(d);
  }
}

export function randomBytes(n) {
  return new Uint8Array(nodeCrypto.randomBytes(n)).buffer;
}

export default { hmac: hmac, randomBytes: randomBytes };
