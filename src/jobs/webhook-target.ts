import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { invalidParameterError } from '../core/errors.js';

/** Loopback, private, link-local, CGNAT, unique-local and other non-public ranges. */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 6 && address.toLowerCase().startsWith('::ffff:')) {
    const v4 = address.slice(7);
    if (isIP(v4) === 4) return PRIVATE.check(v4, 'ipv4');
  }
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Checks a `webhook_url` at submission: http(s), and (unless WEBHOOK_ALLOW_PRIVATE) a host
 * whose every address is public, so a job cannot make the fleet call into its own network.
 * Delivery checks the address it connects to again (a name can change what it points at).
 */
export async function checkWebhookTarget(value: string, allowPrivate: boolean): Promise<URL> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidParameterError('webhook_url', 'must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidParameterError('webhook_url', 'must be an absolute http:// or https:// URL');
  }
  if (url.username !== '' || url.password !== '') {
    throw invalidParameterError('webhook_url', 'must not carry credentials');
  }
  if (allowPrivate) return url;
  const addresses = await resolveHost(url.hostname);
  if (addresses.length === 0 || addresses.some(isPrivateAddress)) {
    throw invalidParameterError(
      'webhook_url',
      'loopback and private addresses are refused (set WEBHOOK_ALLOW_PRIVATE=true to allow them)',
    );
  }
  return url;
}

export async function resolveHost(hostname: string): Promise<string[]> {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) !== 0) return [bare];
  try {
    return (await lookup(bare, { all: true })).map((entry) => entry.address);
  } catch {
    throw invalidParameterError('webhook_url', `the host '${bare}' could not be resolved`);
  }
}
