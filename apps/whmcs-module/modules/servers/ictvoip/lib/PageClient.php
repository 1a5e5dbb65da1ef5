<?php
/**
 * Reads for the client area pages: a signed JSON POST to one of the bridge's /whmcs/client routes
 * (signed exactly like an event, with the server's Access Hash), or the same POST streamed through to
 * the browser (the CSV download). The browser only ever talks to WHMCS; it never sees the secret.
 */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class PageClient
{
    public const READ_TIMEOUT_SECONDS = 10;
    /** A month of calls can be large: the stream may take longer than a page read, never forever. */
    public const STREAM_TIMEOUT_SECONDS = 300;

    /** @return array{0: ?array, 1: ?string} [decoded JSON, null] or [null, message for staff] */
    public static function read(BridgeEndpoint $endpoint, string $path, array $body): array
    {
        $encoded = BridgeClient::encode($body);
        $handle = self::handle($endpoint, $path, $encoded, min(self::READ_TIMEOUT_SECONDS, BridgeClient::totalTimeout()));
        curl_setopt($handle, CURLOPT_RETURNTRANSFER, true);
        $raw = curl_exec($handle);
        $errno = curl_errno($handle);
        $error = curl_error($handle);
        $status = (int) curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        curl_close($handle);
        if ($raw === false || $errno !== 0) {
            return [null, 'the bridge did not answer (' . ($error !== '' ? $error : 'curl error ' . $errno) . ')'];
        }
        $reply = BridgeReply::answered($status, (string) $raw);
        if ($status !== 200 || $reply->json === null) {
            $message = $reply->message();
            return [null, 'the bridge answered HTTP ' . $status . ($message !== '' ? ': ' . $message : '')];
        }
        return [$reply->json, null];
    }

    /**
     * Streams the bridge's answer to the browser as it arrives (constant memory however many calls),
     * passing on only the content type and the file name. Returns null when the stream was sent, or a
     * message when nothing was sent yet (the bridge refused or was down), so the caller can say so.
     */
    public static function stream(BridgeEndpoint $endpoint, string $path, array $body, callable $sendHeader, callable $sendChunk): ?string
    {
        $encoded = BridgeClient::encode($body);
        $handle = self::handle($endpoint, $path, $encoded, self::STREAM_TIMEOUT_SECONDS);
        $status = 0;
        $headers = [];
        $started = false;
        $refusal = '';
        curl_setopt($handle, CURLOPT_HEADERFUNCTION, static function ($curl, string $line) use (&$status, &$headers): int {
            if (preg_match('#^HTTP/\S+\s+(\d{3})#', $line, $match)) {
                $status = (int) $match[1];
                $headers = [];
            } elseif (preg_match('/^(content-type|content-disposition):\s*(.+?)\s*$/i', $line, $match)) {
                $headers[strtolower($match[1])] = $match[2];
            }
            return strlen($line);
        });
        curl_setopt($handle, CURLOPT_WRITEFUNCTION, static function ($curl, string $chunk) use (&$status, &$headers, &$started, &$refusal, $sendHeader, $sendChunk): int {
            if ($status !== 200) {
                $refusal .= substr($chunk, 0, 2000);
                return strlen($chunk);
            }
            if (!$started) {
                $started = true;
                $sendHeader('Content-Type: ' . ($headers['content-type'] ?? 'text/csv; charset=utf-8'));
                if (isset($headers['content-disposition']) && preg_match('/^attachment; filename="[A-Za-z0-9._-]+"$/', $headers['content-disposition'])) {
                    $sendHeader('Content-Disposition: ' . $headers['content-disposition']);
                }
                $sendHeader('X-Content-Type-Options: nosniff');
            }
            $sendChunk($chunk);
            return strlen($chunk);
        });
        curl_exec($handle);
        $errno = curl_errno($handle);
        $error = curl_error($handle);
        curl_close($handle);
        if ($started) {
            return null;
        }
        if ($errno !== 0) {
            return 'the bridge did not answer (' . ($error !== '' ? $error : 'curl error ' . $errno) . ')';
        }
        $reply = BridgeReply::answered($status, $refusal);
        $message = $reply->message();
        return 'the bridge answered HTTP ' . $status . ($message !== '' ? ': ' . $message : '');
    }

    /** @return \CurlHandle */
    private static function handle(BridgeEndpoint $endpoint, string $path, string $body, int $timeout)
    {
        $timestamp = (string) time();
        $handle = curl_init($endpoint->baseUrl . $path);
        curl_setopt_array($handle, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_HTTPHEADER => [
                'Content-Type: application/json',
                'Expect:',
                'User-Agent: ictvoip-whmcs-module/' . EventBuilder::MODULE_VERSION,
                'X-Ictvoip-Timestamp: ' . $timestamp,
                'X-Ictvoip-Signature: ' . BridgeClient::signature($endpoint->secret(), $timestamp, $body),
            ],
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_CONNECTTIMEOUT => BridgeClient::connectTimeout(),
            CURLOPT_TIMEOUT => $timeout,
            CURLOPT_SSL_VERIFYPEER => true,
            CURLOPT_SSL_VERIFYHOST => 2,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
        ]);
        return $handle;
    }
}
