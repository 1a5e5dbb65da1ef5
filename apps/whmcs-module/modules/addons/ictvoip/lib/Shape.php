<?php
/**
 * Cuts a bridge reply to the shape a page template reads. Smarty under PHP 8 warns (on the admin's
 * page) for every key a template reads that a reply lacks, and prints "Array" for a list where a
 * value was expected: a reply of another shape (another bridge version, a proxy's JSON) must render
 * as an empty or partial page instead.
 *
 * A spec is a default scalar (the reply's scalar is kept; null or another kind gives the default), a
 * record (an array of key => spec; the reply's other keys are kept as they are), or Shape::listOf /
 * mapOf / nullable.
 */

namespace WHMCS\Module\Addon\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class Shape
{
    private function __construct(private readonly string $kind, private readonly mixed $of)
    {
    }

    /** A list of $of; items of another kind are left out. */
    public static function listOf(mixed $of): self
    {
        return new self('list', $of);
    }

    /** Any keys, each value fitted to $of (values of another kind are left out). */
    public static function mapOf(mixed $of): self
    {
        return new self('map', $of);
    }

    /** $of, or null when the reply has no record there. */
    public static function nullable(mixed $of): self
    {
        return new self('nullable', $of);
    }

    public static function fit(mixed $value, mixed $spec): mixed
    {
        if ($spec instanceof self) {
            return $spec->fitKind($value);
        }
        if (is_array($spec)) {
            // Keys the spec does not name are kept as they are: no template reads them.
            $fitted = is_array($value) ? $value : [];
            foreach ($spec as $key => $fieldSpec) {
                $fitted[$key] = self::fit($fitted[$key] ?? null, $fieldSpec);
            }
            return $fitted;
        }
        return is_scalar($value) || $value === null ? ($value ?? $spec) : $spec;
    }

    private function fitKind(mixed $value): mixed
    {
        if ($this->kind === 'nullable') {
            return is_array($value) ? self::fit($value, $this->of) : null;
        }
        $items = [];
        foreach (is_array($value) ? $value : [] as $key => $item) {
            if (!self::fits($item, $this->of)) {
                continue;
            }
            $fitted = self::fit($item, $this->of);
            if ($this->kind === 'map') {
                $items[$key] = $fitted;
            } else {
                $items[] = $fitted;
            }
        }
        return $items;
    }

    /** Whether $item is of $spec's kind at all (a record or list for one, a scalar for a scalar). */
    private static function fits(mixed $item, mixed $spec): bool
    {
        if ($spec instanceof self && $spec->kind === 'nullable') {
            return true;
        }
        return is_array($spec) || $spec instanceof self ? is_array($item) : is_scalar($item);
    }
}
