/**
 * Hostile string leaves for the fuzz tests: shell metacharacters, newlines, unicode (astral, RTL,
 * combining, NUL, a lone surrogate), path traversal and template/lookup injections.
 */
export const HOSTILE_STRINGS: readonly string[] = [
  '$(reboot)',
  '`id`',
  '|| true',
  'a\nb',
  'a\r\nb',
  '\u0000',
  'x\u0000y',
  '\u202e',
  '😀',
  'e\u0301',
  '\ud83d',
  '%00',
  '../../etc/passwd',
  '{{7*7}}',
  '${jndi:ldap://x}',
  '<script>',
  '\\',
  '"',
];
