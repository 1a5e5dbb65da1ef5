/**
 * Which outbound routes are emergency routes, for credit control's outbound restriction ("no paid
 * outbound calls, emergency always"). FusionPBX's outbound-route page writes one pair of v_dialplans
 * rows per expression (app/dialplan_outbound/dialplan_outbound_add.php, 5.1 and 5.3), so a route is
 * one dialplan with one `destination_number` condition. A dialplan is an emergency route when every
 * number that condition can match is an emergency number of rating's `[emergency]` list (the list
 * the billing exclusions use), optionally behind the route's outbound prefix (`^9(911)$`). Anything
 * the check cannot enumerate (`\d`, classes, `*`, `{n}`) is not an emergency route: a catch-all such
 * as `^(\d{3})$` also matches 411 and would keep a paid route up.
 */
import { isEmergencyNumber } from '@ictvoip/rating';

/** An expression with more alternatives than this is not a short list of emergency numbers. */
const MAX_ALTERNATIVES = 64;
const START = '\u0001';
const END = '\u0002';

class Unsupported extends Error {}

/** Enumerates the strings a small regular expression matches: literals, groups, `|`, `?`, `^`, `$`. */
class FiniteLanguage {
  private at = 0;
  constructor(private readonly source: string) {}

  parse(): string[] {
    const language = this.alternatives();
    if (this.at !== this.source.length) throw new Unsupported();
    return language;
  }

  private alternatives(): string[] {
    const language = this.sequence();
    while (this.source[this.at] === '|') {
      this.at += 1;
      language.push(...this.sequence());
      if (language.length > MAX_ALTERNATIVES) throw new Unsupported();
    }
    return language;
  }

  private sequence(): string[] {
    let language = [''];
    while (this.at < this.source.length && this.source[this.at] !== '|' && this.source[this.at] !== ')') {
      const atom = this.atom();
      if (this.source[this.at] === '?') {
        this.at += 1;
        atom.push('');
      }
      language = language.flatMap((head) => atom.map((tail) => head + tail));
      if (language.length > MAX_ALTERNATIVES) throw new Unsupported();
    }
    return language;
  }

  private atom(): string[] {
    const char = this.source[this.at++];
    if (char === '(') {
      if (this.source[this.at] === '?') {
        if (this.source.slice(this.at, this.at + 2) !== '?:') throw new Unsupported();
        this.at += 2;
      }
      const inner = this.alternatives();
      if (this.source[this.at++] !== ')') throw new Unsupported();
      return inner;
    }
    if (char === '^') return [START];
    if (char === '$') return [END];
    if (char !== undefined && /[0-9#]/.test(char)) return [char];
    if (char === '\\' && /[+*#]/.test(this.source[this.at] ?? '')) return [this.source[this.at++]!];
    throw new Unsupported();
  }
}

/** FusionPBX's outbound-route page (line 317): the digits between `^` and the first `(` become `outbound_prefix`. */
export function outboundPrefixOf(pattern: string): string {
  const match = /^\^(\d+)\(/.exec(pattern);
  return match ? match[1]! : '';
}

/** Every number `expression` matches, or null when it matches more than a short, fully anchored list. */
export function numbersOfExpression(expression: string): string[] | null {
  let language: string[];
  try {
    language = new FiniteLanguage(expression).parse();
  } catch (error) {
    if (error instanceof Unsupported) return null;
    throw error;
  }
  const numbers: string[] = [];
  for (const text of language) {
    // FreeSWITCH's expression is a search: only an anchor at both ends limits it to the whole number.
    if (!text.startsWith(START) || !text.endsWith(END)) return null;
    const body = text.slice(1, -1);
    if (body.includes(START) || body.includes(END) || body === '') return null;
    numbers.push(body);
  }
  return numbers.length > 0 ? numbers : null;
}

/** True when every number `expression` matches is an emergency number (behind the route's outbound prefix, if it has one). */
export function isEmergencyExpression(expression: string): boolean {
  const numbers = numbersOfExpression(expression);
  if (!numbers) return false;
  const prefix = outboundPrefixOf(expression);
  return numbers.every((number) => isEmergencyNumber(number) || (prefix !== '' && number.startsWith(prefix) && isEmergencyNumber(number.slice(prefix.length))));
}

/** The gateway uuids a bridge action dials through (`sofia/gateway/<uuid>/…`, failover legs joined by `|`). */
export function gatewaysOfBridge(data: string): string[] {
  return [...data.matchAll(/sofia\/gateway\/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\//g)].map((match) => match[1]!.toLowerCase());
}
