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
    /** What of a download php://temp keeps in memory; the rest of a large month goes to a temporary file. */
    private const SPOOL_MEMORY_BYTES = 2097152;

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
     * The bridge's CSV for the browser, passing on only the content type and the file name. It is
     * spooled (php://temp: memory stays bounded, the rest goes to a temporary file) and sent, with its
     * Content-Length, only once the bridge has finished it: PHP cannot abort a response it has begun, so
     * a bridge failing or timing out mid-stream would otherwise reach the browser as a shorter file that
     * looks complete. Returns null when the file was sent, or a message for staff (nothing was sent).
     */
    public static function stream(BridgeEndpoint $endpoint, string $path, array $body, callable $sendHeader, callable $sendChunk): ?string
    {
        $spool = fopen('php://temp/maxmemory:' . self::SPOOL_MEMORY_BYTES, 'w+b');
        if ($spool === false) {
            return 'no temporary file for the download';
        }
        try {
            return self::spoolAndSend($endpoint, $path, $body, $spool, $sendHeader, $sendChunk);
        } finally {
            fclose($spool);
        }
    }

    /** @param resource $spool */
    private static function spoolAndSend(BridgeEndpoint $endpoint, string $path, array $body, $spool, callable $sendHeader, callable $sendChunk): ?string
    {
        $status = 0;
        $headers = [];
        $refusal = '';
        $bytes = 0;
        $onHeader = static function (string $line) use (&$status, &$headers): void {
            if (preg_match('#^HTTP/\S+\s+(\d{3})#', $line, $match)) {
                $status = (int) $match[1];
                $headers = [];
            } elseif (preg_match('/^(content-type|content-disposition):\s*(.+?)\s*$/i', $line, $match)) {
                $headers[strtolower($match[1])] = $match[2];
            }
        };
        $onChunk = static function (string $chunk) use (&$status, &$refusal, &$bytes, $spool): void {
            if ($status !== 200) {
                $refusal .= substr($chunk, 0, 2000);
                return;
            }
            fwrite($spool, $chunk);
            $bytes += strlen($chunk);
        };
        $answer = Http::signedPost($endpoint->baseUrl . $path, $endpoint->secret(), BridgeClient::encode($body), self::streamTimeout(), $onChunk, $onHeader);
        if ($answer['errno'] !== 0) {
            return $status === 200 && $bytes > 0
                ? 'the bridge stopped after ' . $bytes . ' bytes of the file (' . $answer['error'] . '); nothing was sent to the browser'
                : self::unanswered($answer);
        }
        if ($status !== 200) {
            return self::refused(BridgeReply::answered($status, $refusal));
        }
        $sendHeader('Content-Type: ' . ($headers['content-type'] ?? 'text/csv; charset=utf-8'));
        if (isset($headers['content-disposition']) && preg_match('/^attachment; filename="[A-Za-z0-9._-]+"$/', $headers['content-disposition'])) {
            $sendHeader('Content-Disposition: ' . $headers['content-disposition']);
        }
        $sendHeader('X-Content-Type-Options: nosniff');
        $sendHeader('Content-Length: ' . $bytes);
        rewind($spool);
        while (($chunk = fread($spool, 65536)) !== false && $chunk !== '') {
            $sendChunk($chunk);
        }
        return null;
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
