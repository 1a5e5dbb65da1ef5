/** Small byte-level helpers so expected results are derived from the inputs, not hard-coded. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ipaddr from 'ipaddr.js';

export function addressText(bytes: number[]): string {
  const address = ipaddr.fromByteArray(bytes);
  return address.kind() === 'ipv6' ? (address as ipaddr.IPv6).toRFC5952String() : address.toString();
}

/** Adds `delta` (±1) to a big-endian byte array; null on wrap-around (no such address). */
export function addToBytes(bytes: number[], delta: 1 | -1): number[] | null {
  const out = [...bytes];
  for (let index = out.length - 1; index >= 0; index -= 1) {
    const value = out[index]! + delta;
    if (value >= 0 && value <= 255) {
      out[index] = value;
      return out;
    }
    out[index] = delta === 1 ? 0 : 255;
  }
  return null;
}

/** First and last address of a CIDR, plus the neighbours just outside (null at the ends of the space). */
export function cidrEdges(cidr: string): { first: string; last: string; before: string | null; after: string | null } {
  const [address, prefix] = ipaddr.parseCIDR(cidr);
  const bytes = address.toByteArray();
  const first = bytes.map((byte, index) => byte & maskByte(prefix, index));
  const last = bytes.map((byte, index) => (byte & maskByte(prefix, index)) | (~maskByte(prefix, index) & 0xff));
  const before = addToBytes(first, -1);
  const after = addToBytes(last, 1);
  return {
    first: addressText(first),
    last: addressText(last),
    before: before && addressText(before),
    after: after && addressText(after),
  };
}

function maskByte(prefix: number, index: number): number {
  const bits = Math.max(0, Math.min(8, prefix - index * 8));
  return (0xff << (8 - bits)) & 0xff;
}

export async function withTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ictvoip-whitelist-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Polls `predicate` until true or the deadline passes. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, stepMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
