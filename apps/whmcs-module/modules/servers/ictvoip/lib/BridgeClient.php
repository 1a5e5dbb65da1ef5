<?php
/** Signs and POSTs one event to the bridge (lib/Http.php). No retries: WHMCS (Module Queue, admin) retries. */

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
        $timeout = min($totalTimeout ?? self::totalTimeout(), self::totalTimeout());
        $answer = Http::request('POST', $endpoint->webhookUrl($waitSeconds), Http::signedHeaders($endpoint->secret(), $body), $body, self::connectTimeout(), $timeout);
        if ($answer['errno'] !== 0) {
            return BridgeReply::failed($answer['error'], $answer['errno'] === CURLE_OPERATION_TIMEDOUT);
        }
        return BridgeReply::answered($answer['status'], $answer['body']);
    }
}
