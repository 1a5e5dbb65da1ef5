<?php
/**
 * A product moved from ictVoIP's `fusionpbx` server module keeps its field names and values
 * (ictvoip-docs: getting_started/quick_install.rst, modules/fusionpbx/configuration.rst,
 * clientadmin/clientadmin.rst). This maps them onto the event so nothing has to be renamed:
 *
 * - module setting 1 holds ictVoIP's licence key when the product's "Settings layout" (setting 18)
 *   is `ictvoip`: it is ignored, never sent and never logged;
 * - configurable options / custom fields named as ictVoIP's module settings: "Extensions" (or
 *   "Extension(s)", "Extension") → plan.extensionNumbers, "Extension Length" → plan.firstExtension
 *   (the first number of that many digits), "Domain" → service.domain when the service has none;
 *   "License Key" and "Default Password" are dropped (never sent, never logged);
 * - in the ictvoip layout the service field WHMCS calls Dedicated IP, which ictVoIP's hooks label
 *   "Extension(s)", holds the extension list (`221 | 606`).
 */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class IctvoipNames
{
    public const LAYOUT_SETTING = 18;
    public const LAYOUT_ICTVOIP = 'ictvoip';

    /** ictVoIP's names (lower case; spaces, _, - and brackets ignored) → what they mean here. */
    private const NAMES = [
        'extensions' => 'extensions',
        'extension' => 'extensions',
        'extensionlength' => 'extensionLength',
        'domain' => 'domain',
        'license' => 'secret',
        'licensekey' => 'secret',
        'licence' => 'secret',
        'licencekey' => 'secret',
        'defaultpassword' => 'secret',
    ];

    /** ictVoIP's licence keys look like "LeasedFusionPBX_fa4fa0a112e4f3c10107". */
    private const LICENCE_SHAPE = '/^[A-Za-z][A-Za-z0-9]*_[0-9a-f]{8,}$/i';

    public static function isIctvoipLayout(array $params): bool
    {
        return strtolower(trim((string) ($params['configoption' . self::LAYOUT_SETTING] ?? ''))) === self::LAYOUT_ICTVOIP;
    }

    /** True when a setting's value has the shape of ictVoIP's licence key (so it is never echoed). */
    public static function looksLikeLicence(string $value): bool
    {
        return preg_match(self::LICENCE_SHAPE, trim($value)) === 1;
    }

    /** What an option or custom field name means, or null when it is not one of ictVoIP's. */
    public static function meaning(string $name): ?string
    {
        $key = strtolower(preg_replace('/[\s_()\-]/', '', Normalizer::key($name)) ?? '');
        return self::NAMES[$key] ?? null;
    }

    /** Options or custom fields without ictVoIP's secrets (licence key, default password). */
    public static function withoutSecrets(array $values): array
    {
        return array_filter($values, static fn ($name) => self::meaning((string) $name) !== 'secret', ARRAY_FILTER_USE_KEY);
    }

    /** Every ictVoIP secret WHMCS handed over, for the Module Log's scrub list. */
    public static function secrets(array $params): array
    {
        $secrets = [];
        $first = is_scalar($params['configoption1'] ?? null) ? (string) $params['configoption1'] : '';
        if ($first !== '' && (self::isIctvoipLayout($params) || self::looksLikeLicence($first))) {
            $secrets[] = $first;
        }
        foreach (['configoptions', 'customfields'] as $group) {
            foreach (self::arrayParam($params, $group) as $name => $value) {
                if (self::meaning((string) $name) === 'secret' && is_scalar($value) && (string) $value !== '') {
                    $secrets[] = (string) $value;
                }
            }
        }
        return $secrets;
    }

    /**
     * The plan and service after ictVoIP's names are applied. Our own settings win where both say
     * something (module setting 2 over "Extension Length", the service's domain over "Domain").
     *
     * @throws ModuleInputError
     */
    public static function apply(array $params, array $plan, array $service): array
    {
        $ictvoip = self::isIctvoipLayout($params);
        $named = self::namedValues($params);
        $list = self::extensionList($params, $named['extensions'] ?? [], $ictvoip);
        if ($list !== null) {
            $plan['extensionNumbers'] = $list['numbers'];
            if ($list['source'] === 'username') {
                // The field held the extension list, not a login name for FusionPBX.
                $service['username'] = '';
            }
        }
        if (!isset($plan['firstExtension']) && isset($named['extensionLength'])) {
            $plan['firstExtension'] = self::firstOfLength($named['extensionLength']);
        }
        if (trim((string) ($service['domain'] ?? '')) === '' && isset($named['domain'])) {
            $service['domain'] = $named['domain'][1];
        }
        return [$plan, $service];
    }

    /**
     * configurableOptionsNormalized with ictVoIP's "Extensions" option as the list the plan took from
     * it: the usual normalising keeps the part before the first `|`, which would read "2112 | 2113"
     * as 2112.
     */
    public static function normalizedOptions(array $options, array $plan): array
    {
        $normalized = Normalizer::options($options);
        $list = $plan['extensionNumbers'] ?? null;
        if (!is_array($list)) {
            return $normalized;
        }
        foreach ($options as $name => $value) {
            if (self::meaning((string) $name) === 'extensions' && is_scalar($value) && array_map('trim', explode('|', (string) $value)) === $list) {
                $normalized[Normalizer::key((string) $name)] = $list;
            }
        }
        return $normalized;
    }

    /** meaning => [label naming the source, value], options first (WHMCS's order), then custom fields. */
    private static function namedValues(array $params): array
    {
        $named = [];
        foreach (['configoptions' => 'configurable option', 'customfields' => 'custom field'] as $group => $kind) {
            foreach (self::arrayParam($params, $group) as $name => $value) {
                $meaning = self::meaning((string) $name);
                $text = is_scalar($value) ? trim((string) $value) : '';
                if ($meaning === null || $meaning === 'secret' || $text === '' || isset($named[$meaning])) {
                    continue;
                }
                $named[$meaning] = [sprintf('%s "%s"', $kind, Normalizer::key((string) $name)), $text];
            }
        }
        return $named;
    }

    /**
     * The extension list and where it came from, or null. In the ictvoip layout "Extensions" is always
     * a list (one number is a list of one), then the Dedicated IP field, then a username holding
     * `a | b`. In ours a plain number under that name stays the Max extensions quantity (the bridge
     * reads it), so only a real list (two or more numbers, no repeats) is taken.
     *
     * @param array $named [label, value] or []
     * @throws ModuleInputError
     */
    private static function extensionList(array $params, array $named, bool $ictvoip): ?array
    {
        if ($named !== [] && ($ictvoip || self::isList($named[1]))) {
            return ['numbers' => self::parseList($named[1], $named[0]), 'source' => 'option'];
        }
        if (!$ictvoip) {
            return null;
        }
        $dedicated = is_scalar($params['dedicatedip'] ?? null) ? trim((string) $params['dedicatedip']) : '';
        if ($dedicated !== '') {
            return ['numbers' => self::parseList($dedicated, 'the service field "Extension(s)" (WHMCS\'s Dedicated IP)'), 'source' => 'dedicatedip'];
        }
        $username = is_scalar($params['username'] ?? null) ? trim((string) $params['username']) : '';
        if (self::isList($username)) {
            return ['numbers' => self::parseList($username, 'the service\'s Username field'), 'source' => 'username'];
        }
        return null;
    }

    /** `2112 | 2113`: two or more distinct numbers. "50|50 extensions" is a dropdown's value|label. */
    private static function isList(string $value): bool
    {
        $parts = array_map('trim', explode('|', $value));
        return count($parts) > 1 && count(array_unique($parts)) === count($parts) && preg_grep('/^\d{1,15}$/', $parts) === $parts;
    }

    /** @throws ModuleInputError */
    private static function parseList(string $value, string $source): array
    {
        $numbers = array_map('trim', explode('|', $value));
        foreach ($numbers as $index => $number) {
            if (!preg_match('/^\d{1,15}$/', $number)) {
                throw new ModuleInputError(sprintf(
                    '%s must list extension numbers separated by | (e.g. "2112 | 2113"); part %d is "%s"',
                    ucfirst($source),
                    $index + 1,
                    substr($number, 0, 20)
                ));
            }
        }
        if (count(array_unique($numbers)) !== count($numbers)) {
            throw new ModuleInputError(ucfirst($source) . ' lists an extension twice');
        }
        return $numbers;
    }

    /**
     * "Extension Length" 4 → extensions start at 1000. Up to 8 digits (the bridge's first-extension limit).
     *
     * @param array $named [label, value]
     * @throws ModuleInputError
     */
    private static function firstOfLength(array $named): int
    {
        [$source, $value] = $named;
        if (!preg_match('/^[1-8]$/', $value)) {
            throw new ModuleInputError(sprintf('%s (digits of an extension number) must be 1 to 8, got "%s"', ucfirst($source), substr($value, 0, 20)));
        }
        return (int) (10 ** ((int) $value - 1));
    }

    private static function arrayParam(array $params, string $name): array
    {
        return isset($params[$name]) && is_array($params[$name]) ? $params[$name] : [];
    }
}
