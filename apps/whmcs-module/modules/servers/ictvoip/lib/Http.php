<?php
/**
 * The one place the module and the addon talk HTTP (curl): the webhook events, the client area's
 * page reads and CSV stream, and the addon's admin reads. TLS is verified, no redirects are
 * followed, only http(s) is spoken, and every call has a connect and a total timeout.
 */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class Http
{
    /**
     * @param list<string> $headers
     * @param ?callable $onChunk when given, the body is handed over as it arrives (stream) instead of returned
     * @param ?callable $onHeader called with each raw header line
     * @return array{status: int, body: string, errno: int, error: string}
     */
    public static function request(string $method, string $url, array $headers, ?string $body, int $connectTimeout, int $timeout, ?callable $onChunk = null, ?callable $onHeader = null): array
    {
        if (!function_exists('curl_init')) {
            return ['status' => 0, 'body' => '', 'errno' => -1, 'error' => 'the PHP curl extension is not installed'];
        }
        $handle = curl_init($url);
        $options = [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_HTTPHEADER => array_merge($headers, ['Expect:', 'User-Agent: ictvoip-whmcs-module/' . EventBuilder::MODULE_VERSION]),
            CURLOPT_RETURNTRANSFER => $onChunk === null,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_CONNECTTIMEOUT => $connectTimeout,
            CURLOPT_TIMEOUT => $timeout,
            CURLOPT_SSL_VERIFYPEER => true,
            CURLOPT_SSL_VERIFYHOST => 2,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
        ];
        if ($body !== null) {
            $options[CURLOPT_POST] = true;
            $options[CURLOPT_POSTFIELDS] = $body;
        }
        if ($onChunk !== null) {
            $options[CURLOPT_WRITEFUNCTION] = static function ($curl, string $chunk) use ($onChunk): int {
                $onChunk($chunk);
                return strlen($chunk);
            };
        }
        if ($onHeader !== null) {
            $options[CURLOPT_HEADERFUNCTION] = static function ($curl, string $line) use ($onHeader): int {
                $onHeader($line);
                return strlen($line);
            };
        }
        curl_setopt_array($handle, $options);
        $raw = curl_exec($handle);
        $errno = curl_errno($handle);
        $error = curl_error($handle);
        $status = (int) curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        curl_close($handle);
        if ($raw === false && $errno === 0) {
            $errno = -1;
        }
        return ['status' => $status, 'body' => is_string($raw) ? $raw : '', 'errno' => $errno, 'error' => $error !== '' ? $error : ($errno !== 0 ? 'curl error ' . $errno : '')];
    }

    /**
     * Limits for every call (events, client-area reads, the addon's reads) can be lowered by defining
     * these constants, e.g. in WHMCS's configuration.php; the test harness uses them to keep timeouts short.
     */
    public static function connectTimeout(): int
    {
        return defined('ICTVOIP_CONNECT_TIMEOUT') ? (int) constant('ICTVOIP_CONNECT_TIMEOUT') : 5;
    }

    public static function totalTimeout(): int
    {
        return defined('ICTVOIP_TOTAL_TIMEOUT') ? (int) constant('ICTVOIP_TOTAL_TIMEOUT') : 30;
    }

    /**
     * A signed JSON POST of the server module to the bridge (an event, a client-area read or stream),
     * with the connect limit and the given total limit; see request() for the callbacks and the answer.
     *
     * @return array{status: int, body: string, errno: int, error: string}
     */
    public static function signedPost(string $url, string $secret, string $body, int $timeout, ?callable $onChunk = null, ?callable $onHeader = null): array
    {
        return self::request('POST', $url, self::signedHeaders($secret, $body), $body, self::connectTimeout(), $timeout, $onChunk, $onHeader);
    }

    /** The webhook contract (README, "The webhook events"): `v1=` + hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with WEBHOOK_SECRET. */
    public static function signature(string $secret, string $timestamp, string $body): string
    {
        return 'v1=' . hash_hmac('sha256', $timestamp . '.' . $body, $secret);
    }

    /** The JSON POST headers of a signed module request (timestamp and `v1=` signature, as the README's "The webhook events" says). */
    private static function signedHeaders(string $secret, string $body): array
    {
        $timestamp = (string) time();
        return [
            'Content-Type: application/json',
            'Accept: application/json',
            'X-Ictvoip-Timestamp: ' . $timestamp,
            'X-Ictvoip-Signature: ' . self::signature($secret, $timestamp, $body),
        ];
    }
}
