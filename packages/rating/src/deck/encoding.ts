/**
 * A rate deck file's bytes as text. Excel saves "Unicode text" as UTF-16 little-endian with a byte
 * order mark (and tabs between the cells): with its mark the encoding has one reading and is decoded.
 * UTF-16 without a mark is refused, not guessed byte order.
 */

export class RateDeckEncodingError extends Error {
  readonly code = 'RATE_DECK_ENCODING';
  constructor(message: string) {
    super(message);
    this.name = 'RateDeckEncodingError';
  }
}

/** What a file that is UTF-16 without its mark (or read with the wrong encoding) is told to be saved as. */
export const SAVE_AS_UTF8 = 'save the sheet as "CSV UTF-8" (or Excel\'s "Unicode text", which writes the byte order mark)';

export function decodeRateDeckBytes(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return utf16le(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return utf16le(swapped(bytes.subarray(2)));
  if (bytes.includes(0)) throw new RateDeckEncodingError(`the file holds NUL bytes: it looks like UTF-16 without a byte order mark; ${SAVE_AS_UTF8}`);
  // Not fatal: a Windows-1252 sheet's accented destination names must not refuse its prices.
  return new TextDecoder('utf-8').decode(bytes);
}

function utf16le(bytes: Uint8Array): string {
  if (bytes.length % 2 !== 0) throw new RateDeckEncodingError('the file starts with a UTF-16 byte order mark but has an odd number of bytes: it is cut short or not UTF-16');
  return new TextDecoder('utf-16le').decode(bytes);
}

function swapped(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    copy[i] = bytes[i + 1] as number;
    copy[i + 1] = bytes[i] as number;
  }
  if (bytes.length % 2 !== 0) copy[bytes.length - 1] = bytes[bytes.length - 1] as number;
  return copy;
}
