<?php
/** Signs and POSTs one event to the bridge (lib/Http.php). No retries: WHMCS (Module Queue, admin) retries. */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class BridgeClient
{
    public static function encode(array $event): string
    {
        return json_encode($event, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_THROW_ON_ERROR | JSON_PRESERVE_ZERO_FRACTION);
    }

    public static function post(BridgeEndpoint $endpoint, string $body, ?int $waitSeconds, ?int $totalTimeout = null): BridgeReply
    {
        $timeout = min($totalTimeout ?? Http::totalTimeout(), Http::totalTimeout());
        $answer = Http::signedPost($endpoint->webhookUrl($waitSeconds), $endpoint->secret(), $body, $timeout);
        if ($answer['errno'] !== 0) {
            return BridgeReply::failed($answer['error'], $answer['errno'] === CURLE_OPERATION_TIMEDOUT);
        }
        return BridgeReply::answered($answer['status'], $answer['body']);
    }
}
