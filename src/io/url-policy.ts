/**
 * Which URLs s2change may fetch. Only http(s); the host is resolved once, every address is checked against the
 * private/loopback/link-local ranges (unless the user allows private networks), and the connection is then made to
 * exactly the checked address (see `pinnedLookup`), so a DNS answer that changes between check and connect
 * (DNS rebinding) cannot redirect the request to, say, the cloud metadata service at 169.254.169.254.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { NetworkError, UrlRefusedError } from '../errors.js';

/** Options of `checkUrl`. */
export interface UrlPolicyOptions {
  /** Allow loopback, private, link-local and other non-public addresses (option --allow-private-network). */
  allowPrivateNetwork?: boolean;
  /**
   * Hosts exempt from the non-public check, as `host` or `host:port` (e.g. a lab server at 10.0.0.5:8080),
   * without opening every private address; redirects elsewhere are still checked.
   */
  allowHosts?: string[];
  /** DNS resolver (tests inject one); default node:dns/promises lookup with `all: true`. */
  resolve?: (hostname: string) => Promise<ResolvedAddress[]>;
}

/** One resolved address. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** A URL that passed the policy, with the addresses the connection must use. */
export interface CheckedUrl {
  url: URL;
  addresses: ResolvedAddress[];
}

const ALLOWED_PROTOCOLS = ['http:', 'https:'];

/** Named non-public ranges; the name appears in refusals. */
const RANGES: Array<[string, number, 'ipv4' | 'ipv6', string]> = [
  ['0.0.0.0', 8, 'ipv4', 'this-network 0.0.0.0/8'],
  ['10.0.0.0', 8, 'ipv4', 'private 10.0.0.0/8'],
  ['100.64.0.0', 10, 'ipv4', 'carrier-grade NAT 100.64.0.0/10'],
  ['127.0.0.0', 8, 'ipv4', 'loopback 127.0.0.0/8'],
  ['169.254.0.0', 16, 'ipv4', 'link-local 169.254.0.0/16 (includes the cloud metadata service 169.254.169.254)'],
  ['172.16.0.0', 12, 'ipv4', 'private 172.16.0.0/12'],
  ['192.0.0.0', 24, 'ipv4', 'IETF protocol assignments 192.0.0.0/24'],
  ['192.168.0.0', 16, 'ipv4', 'private 192.168.0.0/16'],
  ['198.18.0.0', 15, 'ipv4', 'benchmarking 198.18.0.0/15'],
  ['224.0.0.0', 4, 'ipv4', 'multicast 224.0.0.0/4'],
  ['240.0.0.0', 4, 'ipv4', 'reserved/broadcast 240.0.0.0/4'],
  ['::', 128, 'ipv6', 'unspecified ::'],
  ['::1', 128, 'ipv6', 'loopback ::1'],
  ['fc00::', 7, 'ipv6', 'unique-local fc00::/7'],
  ['fe80::', 10, 'ipv6', 'link-local fe80::/10'],
  ['fec0::', 10, 'ipv6', 'site-local fec0::/10'],
  ['ff00::', 8, 'ipv6', 'multicast ff00::/8'],
];

/**
 * Link-local and cloud metadata addresses: refused even with `allowPrivateNetwork` (a lab mirror on 10.x must not
 * open the way to the instance's credentials); only an `allowHosts` entry naming the host exactly lets one through.
 */
const METADATA_RANGES: Array<[string, number, 'ipv4' | 'ipv6', string]> = [
  ['169.254.0.0', 16, 'ipv4', 'link-local 169.254.0.0/16 (includes the cloud metadata service 169.254.169.254)'],
  ['100.100.100.200', 32, 'ipv4', 'the Alibaba Cloud metadata service 100.100.100.200'],
  ['fd00:ec2::254', 128, 'ipv6', 'the AWS IPv6 metadata service fd00:ec2::254'],
  ['fe80::', 10, 'ipv6', 'link-local fe80::/10'],
];

const METADATA_BLOCKS = METADATA_RANGES.map(([net, prefix, type, label]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, type);
  return { list, type, label };
});

const BLOCKS = RANGES.map(([net, prefix, type, label]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, type);
  return { list, type, label };
});

/**
 * If `ip` is IPv6 embedding an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64
 * 64:ff9b::/96), return that IPv4 address, else null.
 */
function embeddedIpv4(ip: string): string | null {
  const groups = expandIpv6(ip);
  if (!groups) return null;
  const zeros = (from: number, to: number): boolean => groups.slice(from, to).every((g) => g === 0);
  const mapped = zeros(0, 5) && groups[5] === 0xffff;
  const compat = zeros(0, 6) && (groups[6] !== 0 || groups[7] > 1);
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6);
  if (!mapped && !compat && !nat64) return null;
  return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
}

/** Eight 16-bit groups of an IPv6 address (with an optional dotted IPv4 tail), or null when malformed. */
function expandIpv6(ip: string): number[] | null {
  let s = ip.toLowerCase().replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1].split('.').map(Number);
    s = s.slice(0, -v4[1].length) + ((b[0] << 8) | b[1]).toString(16) + ':' + ((b[2] << 8) | b[3]).toString(16);
  }
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = s.includes('::') ? 8 - h.length - t.length : 0;
  const all = [...h, ...Array<string>(Math.max(0, fill)).fill('0'), ...t];
  if (all.length !== 8) return null;
  return all.map((g) => parseInt(g, 16));
}

/**
 * Why `ip` is not a public address (e.g. "loopback 127.0.0.0/8"), or null when it is public.
 * IPv4 embedded in IPv6 (::ffff:127.0.0.1, NAT64) is judged by its IPv4 part.
 */
export function nonPublicRange(ip: string): string | null {
  const family = isIP(ip);
  if (family === 0) return `not an IP address (${ip})`;
  if (family === 6) {
    const v4 = embeddedIpv4(ip);
    if (v4) {
      const inner = nonPublicRange(v4);
      return inner ? `${inner}, written as IPv6 ${ip}` : null;
    }
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const b of BLOCKS) if (b.type === type && b.list.check(ip, type)) return b.label;
  return null;
}

/**
 * Why `ip` is a link-local or cloud metadata address (refused even with --allow-private-network), or null.
 * IPv4 embedded in IPv6 is judged by its IPv4 part.
 */
export function metadataRange(ip: string): string | null {
  const family = isIP(ip);
  if (family === 0) return null;
  if (family === 6) {
    const v4 = embeddedIpv4(ip);
    if (v4) {
      const inner = metadataRange(v4);
      return inner ? `${inner}, written as IPv6 ${ip}` : null;
    }
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const b of METADATA_BLOCKS) if (b.type === type && b.list.check(ip, type)) return b.label;
  return null;
}

async function defaultResolve(hostname: string): Promise<ResolvedAddress[]> {
  const res = await dnsLookup(hostname, { all: true, verbatim: true });
  return res.map((r) => ({ address: r.address, family: r.family === 6 ? 6 : 4 }));
}

/**
 * Check `url` against the policy: scheme http/https only, no link-local or metadata address (even with
 * `allowPrivateNetwork`; only an exact `allowHosts` entry exempts a host), and (unless `allowPrivateNetwork`) every
 * address the host resolves to must be public. Returns the parsed URL and the checked addresses to connect to.
 * Throws UrlRefusedError (naming the URL, what was found and the option that allows it) or NetworkError when the
 * host cannot be resolved.
 */
export async function checkUrl(url: string | URL, opts: UrlPolicyOptions = {}): Promise<CheckedUrl> {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : new URL(url.href);
  } catch (err) {
    throw new UrlRefusedError('not a valid URL', {
      input: String(url),
      expected: 'an absolute http:// or https:// URL',
      found: 'text that does not parse as a URL',
      fix: 'Give a full URL such as https://host/path/file.tif, or a local file path',
      cause: err,
    });
  }
  if (!ALLOWED_PROTOCOLS.includes(parsed.protocol)) {
    throw new UrlRefusedError('URL scheme not allowed', {
      input: redact(parsed),
      expected: 'an http:// or https:// URL',
      found: `scheme ${parsed.protocol.replace(/:$/, '')}://`,
      fix: 'Use an http(s) URL, or pass a local file as a plain path (not file://)',
    });
  }
  if (parsed.username || parsed.password) {
    throw new UrlRefusedError('URL contains credentials', {
      input: redact(parsed),
      expected: 'a URL without user:password@',
      found: 'embedded credentials',
      fix: 'Remove the credentials from the URL (use a pre-signed URL instead)',
    });
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: ResolvedAddress[];
  const literal = isIP(host);
  if (literal) {
    addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await (opts.resolve ?? defaultResolve)(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new NetworkError('cannot resolve host name', {
        input: redact(parsed),
        expected: `a DNS answer for ${host}`,
        found: code,
        fix: 'Check the URL and your network connection, or use local files instead',
        cause: err,
      });
    }
    if (addresses.length === 0) {
      throw new NetworkError('host name resolves to no address', { input: redact(parsed), expected: `an address for ${host}`, found: 'none' });
    }
  }
  const exempt = opts.allowHosts?.some((h) => h.toLowerCase() === parsed.host.toLowerCase() || h.toLowerCase() === parsed.hostname.toLowerCase());
  if (!exempt) {
    for (const a of addresses) {
      const why = metadataRange(a.address);
      if (why) {
        throw new UrlRefusedError('URL points to a link-local or cloud metadata address', {
          input: redact(parsed),
          expected: 'a host on the public internet (or, with --allow-private-network, a private one)',
          found: `${host} -> ${a.address} (${why})`,
          fix: 'These addresses are refused even with --allow-private-network; if you really mean this host, name it with --allow-host ' + parsed.host,
        });
      }
    }
  }
  if (!opts.allowPrivateNetwork && !exempt) {
    for (const a of addresses) {
      const why = nonPublicRange(a.address);
      if (why) {
        throw new UrlRefusedError('URL points to a non-public network address', {
          input: redact(parsed),
          expected: 'a host on the public internet',
          found: `${host} -> ${a.address} (${why})`,
          fix: 'If you really mean to read from a local or private server, pass --allow-private-network (or allow just that host)',
        });
      }
    }
  }
  return { url: parsed, addresses };
}

/**
 * A `lookup` for node:http(s) request options that answers only with the checked addresses, so the socket connects
 * to what `checkUrl` approved whatever DNS says later.
 */
export function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    const fam = options?.family === 'IPv4' ? 4 : options?.family === 'IPv6' ? 6 : Number(options?.family ?? 0);
    const usable = fam === 4 || fam === 6 ? addresses.filter((a) => a.family === fam) : addresses;
    if (usable.length === 0) {
      const err = Object.assign(new Error(`no checked address of family ${fam} for ${hostname}`), { code: 'ENOTFOUND' });
      callback(err, options?.all ? [] : undefined, undefined);
      return;
    }
    if (options?.all) callback(null, usable.map((a) => ({ address: a.address, family: a.family })));
    else callback(null, usable[0].address, usable[0].family);
  }) as unknown as LookupFunction;
}

/** The URL with any credentials and query string removed, for messages (pre-signed query strings are secrets). */
export function redact(url: URL): string {
  const u = new URL(url.href);
  u.username = '';
  u.password = '';
  if (u.search) u.search = '?…';
  return u.href;
}
