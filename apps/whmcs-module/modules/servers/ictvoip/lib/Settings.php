<?php
/**
 * The product's Module Settings ("config options"). WHMCS passes them to every call as positional
 * configoption1..configoption24 in the order declared here, so this list may only ever GROW AT THE END:
 * reordering or removing an entry silently re-maps every existing product.
 */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class Settings
{
    /** position => [plan key, kind, WHMCS field definition] */
    private const FIELDS = [
        1 => ['maxExtensions', 'int', ['FriendlyName' => 'Max extensions', 'Type' => 'text', 'Size' => '6', 'Default' => '10', 'Description' => 'Extensions the tenant may have (0-10000)', 'SimpleMode' => true]],
        2 => ['firstExtension', 'int', ['FriendlyName' => 'First extension', 'Type' => 'text', 'Size' => '8', 'Default' => '100', 'Description' => 'Number of the first extension created', 'SimpleMode' => true]],
        3 => ['gatewayTemplate', 'text', ['FriendlyName' => 'Gateway template', 'Type' => 'text', 'Size' => '40', 'Default' => '', 'Description' => 'Name of the bridge gateway template (blank: none)', 'SimpleMode' => true]],
        4 => ['rateDeck', 'text', ['FriendlyName' => 'Rate deck', 'Type' => 'text', 'Size' => '40', 'Default' => '', 'Description' => 'Rate deck used to price calls (blank: bridge default)', 'SimpleMode' => true]],
        5 => ['billingMode', 'text', ['FriendlyName' => 'Billing mode', 'Type' => 'dropdown', 'Options' => 'postpaid,prepaid', 'Default' => 'postpaid', 'Description' => 'How usage is charged', 'SimpleMode' => true]],
        6 => ['includedMinutes', 'int', ['FriendlyName' => 'Included minutes', 'Type' => 'text', 'Size' => '8', 'Default' => '0', 'Description' => 'Minutes per period before usage is charged', 'SimpleMode' => true]],
        7 => ['brand', 'text', ['FriendlyName' => 'Brand', 'Type' => 'text', 'Size' => '40', 'Default' => '', 'Description' => 'Branding profile applied to the tenant (blank: default)', 'SimpleMode' => true]],
        8 => ['maxGateways', 'int', ['FriendlyName' => 'Max gateways', 'Type' => 'text', 'Size' => '6', 'Default' => '', 'Description' => 'Gateways the tenant may have, also in FusionPBX (0-1000; blank: no limit)', 'SimpleMode' => true]],
        9 => ['maxDestinations', 'int', ['FriendlyName' => 'Max destinations', 'Type' => 'text', 'Size' => '6', 'Default' => '', 'Description' => 'Destinations the tenant may add in FusionPBX (0-10000; blank: no limit)', 'SimpleMode' => true]],
        10 => ['countryCode', 'text', ['FriendlyName' => 'Country code', 'Type' => 'text', 'Size' => '4', 'Default' => '', 'Description' => 'Country code of the DIDs (e.g. 1, 44); blank: numbers stored as given', 'SimpleMode' => true]],
        11 => ['numberFormat', 'text', ['FriendlyName' => 'Number format', 'Type' => 'dropdown', 'Options' => 'national,e164', 'Default' => 'national', 'Description' => 'How DIDs are written to FusionPBX', 'SimpleMode' => true]],
        12 => ['ringGroup', 'text', ['FriendlyName' => 'Ring group', 'Type' => 'text', 'Size' => '8', 'Default' => '', 'Description' => 'Extension of a ring group of the plan extensions that the DIDs ring (blank: first extension)', 'SimpleMode' => true]],
        13 => ['creditLimit', 'decimal', ['FriendlyName' => 'Credit limit', 'Type' => 'text', 'Size' => '10', 'Default' => '', 'Description' => 'Postpaid: how far usage may go past the credit balance, e.g. 50.00 (blank: no credit control)', 'SimpleMode' => true]],
        14 => ['lowBalanceThreshold', 'decimal', ['FriendlyName' => 'Low balance threshold', 'Type' => 'text', 'Size' => '10', 'Default' => '', 'Description' => 'Available credit under which the low-balance email goes out, e.g. 5.00', 'SimpleMode' => true]],
        15 => ['creditRestriction', 'text', ['FriendlyName' => 'At zero balance', 'Type' => 'dropdown', 'Options' => 'suspend,outbound', 'Default' => 'suspend', 'Description' => 'suspend: WHMCS suspends the service; outbound: paid outbound calls stop in FusionPBX, emergency calls keep working', 'SimpleMode' => true]],
        16 => ['registrationWatch', 'text', ['FriendlyName' => 'Registration watch', 'Type' => 'dropdown', 'Options' => 'all,marked,off', 'Default' => 'all', 'Description' => 'Which phones registration monitoring watches and alerts on: every extension, only those marked (REST/CLI), or none', 'SimpleMode' => true]],
        17 => ['routeTemplate', 'text', ['FriendlyName' => 'Route template', 'Type' => 'text', 'Size' => '40', 'Default' => '', 'Description' => 'Outbound route template of the bridge provisioning file written through the gateway (blank: default)', 'SimpleMode' => true]],
        // Not a plan value: says how to read setting 1 (see IctvoipNames).
        18 => [null, 'layout', ['FriendlyName' => 'Settings layout', 'Type' => 'dropdown', 'Options' => 'bridge,ictvoip', 'Default' => 'bridge', 'Description' => "ictvoip: a product moved from ictVoIP's fusionpbx module; setting 1 then holds its licence key, which is ignored and never sent", 'SimpleMode' => true]],
    ];

    /** The definition array returned by ictvoip_ConfigOptions, keyed by friendly name in position order. */
    public static function configOptions(): array
    {
        $options = [];
        foreach (self::FIELDS as [, , $definition]) {
            $options[$definition['FriendlyName']] = $definition;
        }
        return $options;
    }

    /**
     * The plan section of the event from configoption1..N. Blank values are left out so the bridge's
     * defaults apply; a whole-number setting that is not a whole number is refused here, naming it.
     *
     * @throws ModuleInputError
     */
    public static function plan(array $params): array
    {
        $plan = [];
        foreach (self::FIELDS as $position => [$key, $kind, $definition]) {
            $value = trim((string) ($params['configoption' . $position] ?? ''));
            if ($value === '' || $key === null || self::isLicenceSlot($params, $position)) {
                continue;
            }
            if ($kind === 'int') {
                if (!preg_match('/^\d{1,9}$/', $value) && IctvoipNames::looksLikeLicence($value)) {
                    // Never echoed: the value is ictVoIP's licence key, which must not reach a message or a log.
                    throw new ModuleInputError(sprintf(
                        'Module setting %d (%s) holds what looks like ictVoIP\'s licence key: set module setting %d (Settings layout) to "%s"',
                        $position,
                        $definition['FriendlyName'],
                        IctvoipNames::LAYOUT_SETTING,
                        IctvoipNames::LAYOUT_ICTVOIP
                    ));
                }
                if (!preg_match('/^\d{1,9}$/', $value)) {
                    throw new ModuleInputError(sprintf(
                        'Module setting %d (%s) must be a whole number, got "%s"',
                        $position,
                        $definition['FriendlyName'],
                        substr($value, 0, 40)
                    ));
                }
                $plan[$key] = (int) $value;
                continue;
            }
            if ($kind === 'decimal') {
                // Sent as the decimal string it is: money never becomes a PHP float.
                if (!preg_match('/^\d{1,12}(\.\d{1,6})?$/', $value)) {
                    throw new ModuleInputError(sprintf(
                        'Module setting %d (%s) must be an amount such as 5.00, got "%s"',
                        $position,
                        $definition['FriendlyName'],
                        substr($value, 0, 40)
                    ));
                }
                $plan[$key] = $value;
                continue;
            }
            $plan[$key] = $value;
        }
        return $plan;
    }

    /** configoption1..N as received, for the bridge's audit trail; ictVoIP's licence key is left blank. */
    public static function raw(array $params): array
    {
        $raw = [];
        foreach (array_keys(self::FIELDS) as $position) {
            $value = (string) ($params['configoption' . $position] ?? '');
            $raw['configoption' . $position] = self::isLicenceSlot($params, $position) || ($position === 1 && IctvoipNames::looksLikeLicence($value)) ? '' : $value;
        }
        return $raw;
    }

    /** Setting 1 of a product in ictVoIP's layout is its licence key, not Max extensions. */
    private static function isLicenceSlot(array $params, int $position): bool
    {
        return $position === 1 && IctvoipNames::isIctvoipLayout($params);
    }
}
