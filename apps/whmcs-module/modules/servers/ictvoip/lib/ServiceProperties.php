<?php
/**
 * Saves the bridge's `serviceProperties` on the service. WHMCS (7.x+) passes the service as
 * $params['model']; `$params['model']->serviceProperties->save([name => value])` stores each pair in a
 * product custom field of that name (created on demand, admin-only) or, for the reserved names
 * Username, Password, Domain, Dedicated IP …, in the matching tblhosting column.
 * Outside WHMCS (or on a version without it) there is nothing to save to and this is a no-op.
 */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class ServiceProperties
{
    /** @param mixed $properties @return string|null an error to log, or null when saved or nothing to save */
    public static function save(array $params, $properties): ?string
    {
        if (!is_array($properties) || $properties === []) {
            return null;
        }
        $values = [];
        foreach ($properties as $name => $value) {
            if (is_string($name) && $name !== '' && (is_scalar($value) || $value === null)) {
                $values[$name] = $value === null ? '' : (is_bool($value) ? ($value ? '1' : '0') : (string) $value);
            }
        }
        $model = $params['model'] ?? null;
        if ($values === [] || !is_object($model)) {
            return null;
        }
        try {
            $store = $model->serviceProperties;
            if (!is_object($store) || !method_exists($store, 'save')) {
                return 'this WHMCS version offers no serviceProperties on the service';
            }
            $store->save($values);
            return null;
        } catch (\Throwable $error) {
            return 'saving service properties failed: ' . $error->getMessage();
        }
    }
}
