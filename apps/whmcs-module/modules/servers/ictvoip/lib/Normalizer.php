<?php
/**
 * Configurable options and custom fields as the bridge wants them. Names follow the common WHMCS
 * convention `key|Friendly Label`: the key is the part before the pipe, trimmed. Dropdown values may
 * use the same convention. Ticked checkboxes arrive as "on".
 */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class Normalizer
{
    /** key (before the pipe) => coerced value. */
    public static function options(array $options): array
    {
        $normalized = [];
        foreach ($options as $name => $value) {
            $key = self::key((string) $name);
            if ($key === '') {
                continue;
            }
            $normalized[$key] = self::value($value);
        }
        return $normalized;
    }

    /** Custom fields by name (key before the pipe), values as WHMCS stores them: text. */
    public static function customFields(array $fields): array
    {
        $byName = [];
        foreach ($fields as $name => $value) {
            $key = self::key((string) $name);
            if ($key === '') {
                continue;
            }
            $byName[$key] = is_scalar($value) ? (string) $value : $value;
        }
        return $byName;
    }

    /** Options exactly as WHMCS passed them, with scalar values (what the bridge's effectivePlan reads). */
    public static function rawOptions(array $options): array
    {
        $raw = [];
        foreach ($options as $name => $value) {
            $raw[(string) $name] = $value;
        }
        return $raw;
    }

    public static function key(string $name): string
    {
        return trim(explode('|', $name, 2)[0]);
    }

    /**
     * "on" => true; whole numbers without leading zeros => int; decimals => float; else trimmed text.
     * Leading zeros stay text because they are meaningful in extension and account numbers.
     */
    public static function value($value)
    {
        if (!is_string($value)) {
            return $value;
        }
        $text = trim(explode('|', $value, 2)[0]);
        if ($text === 'on') {
            return true;
        }
        if (preg_match('/^-?(0|[1-9]\d{0,14})$/', $text)) {
            return (int) $text;
        }
        if (preg_match('/^-?(0|[1-9]\d{0,14})\.\d{1,6}$/', $text)) {
            return (float) $text;
        }
        return $text;
    }
}
