<?php
/**
 * logModuleCall (Configuration → System Logs → Module Log). Secrets are removed twice: the event is
 * redacted before it is logged, and every secret value is in WHMCS's scrub list as well.
 */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class ModuleLog
{
    public const MODULE = 'ictvoip';
    private const REDACTED = '[redacted]';

    /** Every secret WHMCS may hand us for this call: server password, Access Hash, service password, ictVoIP's licence key. */
    public static function secrets(array $params): array
    {
        $secrets = IctvoipNames::secrets($params);
        foreach (['serveraccesshash', 'serverpassword', 'password'] as $key) {
            $value = isset($params[$key]) && is_scalar($params[$key]) ? trim((string) $params[$key]) : '';
            if ($value !== '') {
                $secrets[] = $value;
                $secrets[] = (string) $params[$key];
            }
        }
        return array_values(array_unique($secrets));
    }

    public static function redactEvent(array $event): array
    {
        if (isset($event['secrets']) && is_array($event['secrets'])) {
            $event['secrets'] = array_map(static fn () => self::REDACTED, $event['secrets']);
        }
        return $event;
    }

    /** Replaces each secret in a text by a marker (for messages shown to staff or logged). */
    public static function scrub(string $text, array $secrets): string
    {
        foreach ($secrets as $secret) {
            if ($secret !== '') {
                $text = str_replace($secret, self::REDACTED, $text);
            }
        }
        return $text;
    }

    /** @param mixed $request @param mixed $processed */
    public static function record(string $action, $request, string $rawResponse, $processed, array $secrets): void
    {
        if (!function_exists('logModuleCall')) {
            return;
        }
        $request = is_string($request) ? self::scrub($request, $secrets) : self::scrubArray($request, $secrets);
        $processed = is_string($processed) ? self::scrub($processed, $secrets) : self::scrubArray($processed, $secrets);
        try {
            logModuleCall(self::MODULE, $action, $request, self::scrub($rawResponse, $secrets), $processed, $secrets);
        } catch (\Throwable $ignored) {
            // Logging must never turn a finished action into a failure.
        }
    }

    private static function scrubArray($value, array $secrets)
    {
        if (is_string($value)) {
            return self::scrub($value, $secrets);
        }
        if ($value instanceof \stdClass) {
            return (object) self::scrubArray((array) $value, $secrets);
        }
        if (!is_array($value)) {
            return $value;
        }
        foreach ($value as $key => $item) {
            $value[$key] = self::scrubArray($item, $secrets);
        }
        return $value;
    }
}
