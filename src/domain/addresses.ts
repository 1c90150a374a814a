import { BlockList, isIP } from 'node:net';

/** Why an address is not a public unicast one. */
export type AddressKind =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

const RANGES: Record<AddressKind, ReadonlyArray<[string, number, 'ipv4' | 'ipv6']>> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT: someone's internal network
    ['fc00::', 7, 'ipv6'], // unique local
    ['fec0::', 10, 'ipv6'], // deprecated site-local, still routed inside some networks
    ['64:ff9b:1::', 48, 'ipv6'], // local-use NAT64
  ],
  'link-local': [
    ['169.254.0.0', 16, 'ipv4'], // cloud metadata endpoints live here
    ['fe80::', 10, 'ipv6'],
  ],
  unspecified: [
    ['0.0.0.0', 8, 'ipv4'], // "this host": connecting to it reaches localhost
    ['::', 128, 'ipv6'],
  ],
  multicast: [
    ['224.0.0.0', 4, 'ipv4'],
    ['ff00::', 8, 'ipv6'],
  ],
  reserved: [
    ['192.0.0.0', 24, 'ipv4'],
    ['192.0.2.0', 24, 'ipv4'],
    ['198.18.0.0', 15, 'ipv4'],
    ['198.51.100.0', 24, 'ipv4'],
    ['203.0.113.0', 24, 'ipv4'],
    ['240.0.0.0', 4, 'ipv4'], // includes 255.255.255.255
    ['100::', 64, 'ipv6'],
    ['2001:db8::', 32, 'ipv6'],
  ],
};

const LISTS = Object.entries(RANGES).map(([kind, ranges]) => {
  const list = new BlockList();
  for (const [network, prefix, family] of ranges) list.addSubnet(network, prefix, family);
  return [kind as AddressKind, list] as const;
});

/**
 * What kind of non-public address `ip` is, or null for a public unicast address (or a
 * string that is not an IP at all). IPv4-mapped IPv6 (`::ffff:127.0.0.1`), NAT64
 * (`64:ff9b::7f00:1`) and 6to4 (`2002:7f00:1::`) are judged by the IPv4 address inside.
 */
export function addressKind(ip: string): AddressKind | null {
  const address = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const family = isIP(address);
  if (family === 0) return null;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [kind, list] of LISTS) if (list.check(address, type)) return kind;
  if (family === 6) {
    const inner = embeddedIpv4(address);
    if (inner) return addressKind(inner);
  }
  return null;
}

/** The IPv4 address a NAT64 or 6to4 address carries, if it is one. */
function embeddedIpv4(address: string): string | undefined {
  const groups = expandIpv6(address);
  if (!groups) return undefined;
  const isNat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  if (isNat64) return quad(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return quad(groups[1]!, groups[2]!);
  return undefined;
}

function quad(high: number, low: number): string {
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** Eight 16-bit groups of an IPv6 address (a trailing dotted IPv4 part included). */
function expandIpv6(address: string): number[] | undefined {
  let text = address.split('%')[0]!;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (s: string): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  return [...left, ...new Array<number>(missing).fill(0), ...right];
}
