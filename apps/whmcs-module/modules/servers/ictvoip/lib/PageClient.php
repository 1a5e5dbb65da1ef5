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
        [$reply, $error] = self::call($endpoint, $path, $body);
        if ($error !== null) {
            return [null, $error];
        }
        return [$reply->json, null];
    }

    /**
     * The bridge's answer as a BridgeReply (the caller reads its status and JSON), or the message
     * when the bridge did not answer at all.
     *
     * @return array{0: ?BridgeReply, 1: ?string}
     */
    public static function call(BridgeEndpoint $endpoint, string $path, array $body): array
    {
        $encoded = BridgeClient::encode($body);
        $answer = Http::signedPost($endpoint->baseUrl . $path, $endpoint->secret(), $encoded, min(self::READ_TIMEOUT_SECONDS, Http::totalTimeout()));
        if ($answer['errno'] !== 0) {
            return [null, self::unanswered($answer)];
        }
        $reply = BridgeReply::answered($answer['status'], $answer['body']);
        if ($answer['status'] !== 200 || $reply->json === null) {
            return [$reply, self::refused($reply)];
        }
        return [$reply, null];
    }

    /**
     * Streams the bridge's answer to the browser as it arrives (constant memory however many calls),
     * passing on only the content type and the file name. Returns null when the stream was sent, or a
     * message when nothing was sent yet (the bridge refused or was down), so the caller can say so.
     */
    public static function stream(BridgeEndpoint $endpoint, string $path, array $body, callable $sendHeader, callable $sendChunk): ?string
    {
        $encoded = BridgeClient::encode($body);
        $status = 0;
        $headers = [];
        $started = false;
        $refusal = '';
        $onHeader = static function (string $line) use (&$status, &$headers): void {
            if (preg_match('#^HTTP/\S+\s+(\d{3})#', $line, $match)) {
                $status = (int) $match[1];
                $headers = [];
            } elseif (preg_match('/^(content-type|content-disposition):\s*(.+?)\s*$/i', $line, $match)) {
                $headers[strtolower($match[1])] = $match[2];
            }
        };
        $onChunk = static function (string $chunk) use (&$status, &$headers, &$started, &$refusal, $sendHeader, $sendChunk): void {
            if ($status !== 200) {
                $refusal .= substr($chunk, 0, 2000);
                return;
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
        };
        $answer = Http::signedPost($endpoint->baseUrl . $path, $endpoint->secret(), $encoded, self::streamTimeout(), $onChunk, $onHeader);
        if ($started) {
            return null;
        }
        if ($answer['errno'] !== 0) {
            return self::unanswered($answer);
        }
        return self::refused(BridgeReply::answered($status, $refusal));
    }

    /** The download's limit: 300 s, or ICTVOIP_TOTAL_TIMEOUT when an install defined a lower one (not the events' 30 s default). */
    private static function streamTimeout(): int
    {
        return defined('ICTVOIP_TOTAL_TIMEOUT') ? min(self::STREAM_TIMEOUT_SECONDS, Http::totalTimeout()) : self::STREAM_TIMEOUT_SECONDS;
    }

    /** For staff: the bridge was not reached, or did not answer in time (curl's reason). */
    private static function unanswered(array $answer): string
    {
        return 'the bridge did not answer (' . $answer['error'] . ')';
    }

    /** For staff: the bridge answered, but not with the page's JSON (its status, and its message when it gave one). */
    private static function refused(BridgeReply $reply): string
    {
        $message = $reply->message();
        return 'the bridge answered HTTP ' . $reply->httpStatus . ($message !== '' ? ': ' . $message : '');
    }
}
