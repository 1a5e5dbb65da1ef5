<?php
/** Signs and POSTs one event to the bridge with curl. No retries: WHMCS (Module Queue, admin) retries. */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class BridgeClient
{
    /**
     * Limits can be lowered (never raised past WHMCS's own patience) by defining these constants,
     * e.g. in WHMCS's configuration.php; the test harness uses them to keep timeouts short.
     */
    public static function connectTimeout(): int
    {
        return defined('ICTVOIP_CONNECT_TIMEOUT') ? (int) constant('ICTVOIP_CONNECT_TIMEOUT') : 5;
    }

    public static function totalTimeout(): int
    {
        return defined('ICTVOIP_TOTAL_TIMEOUT') ? (int) constant('ICTVOIP_TOTAL_TIMEOUT') : 30;
    }

    /** CONTRACT.md: `v1=` + hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with WEBHOOK_SECRET. */
    public static function signature(string $secret, string $timestamp, string $body): string
    {
        return 'v1=' . hash_hmac('sha256', $timestamp . '.' . $body, $secret);
    }

    public static function encode(array $event): string
    {
        return json_encode($event, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_THROW_ON_ERROR | JSON_PRESERVE_ZERO_FRACTION);
    }

    public static function post(BridgeEndpoint $endpoint, string $body, ?int $waitSeconds, ?int $totalTimeout = null): BridgeReply
    {
        if (!function_exists('curl_init')) {
            return BridgeReply::failed('the PHP curl extension is not installed', false);
        }
        $timestamp = (string) time();
        $handle = curl_init($endpoint->webhookUrl($waitSeconds));
        curl_setopt_array($handle, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_HTTPHEADER => [
                'Content-Type: application/json',
                'Accept: application/json',
                'Expect:',
                'User-Agent: ictvoip-whmcs-module/' . EventBuilder::MODULE_VERSION,
                'X-Ictvoip-Timestamp: ' . $timestamp,
                'X-Ictvoip-Signature: ' . self::signature($endpoint->secret(), $timestamp, $body),
            ],
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_CONNECTTIMEOUT => self::connectTimeout(),
            CURLOPT_TIMEOUT => min($totalTimeout ?? self::totalTimeout(), self::totalTimeout()),
            CURLOPT_SSL_VERIFYPEER => true,
            CURLOPT_SSL_VERIFYHOST => 2,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
        ]);
        $raw = curl_exec($handle);
        $errno = curl_errno($handle);
        $error = curl_error($handle);
        $status = (int) curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        curl_close($handle);
        if ($raw === false || $errno !== 0) {
            return BridgeReply::failed($error !== '' ? $error : 'curl error ' . $errno, $errno === CURLE_OPERATION_TIMEDOUT);
        }
        return BridgeReply::answered($status, (string) $raw);
    }
}
