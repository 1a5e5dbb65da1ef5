<?php
/**
 * The addon's only way to the bridge: its /admin/pages routes with the ADMIN_TOKEN kept in the addon's
 * settings (server side; WHMCS stores addon passwords encrypted). The browser never sees the token.
 */

namespace WHMCS\Module\Addon\Ictvoip;

use WHMCS\Module\Server\Ictvoip\Http;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class AdminClient
{
    private function __construct(private readonly string $baseUrl, private readonly string $token, private readonly string $adminName)
    {
    }

    /** @throws AdminPageError when the addon is not configured */
    public static function fromVars(array $vars, string $adminName): self
    {
        $url = rtrim(trim((string) ($vars['bridgeUrl'] ?? '')), '/');
        if (!preg_match('#^https?://[^\s/]+(/[^\s]*)?$#i', $url)) {
            throw new AdminPageError('setup', 'Set "Bridge URL" (e.g. https://bridge.example.net:3000) in the addon\'s configuration.');
        }
        $token = trim((string) ($vars['adminToken'] ?? ''));
        if ($token === '') {
            throw new AdminPageError('setup', 'Set "Admin token" (the bridge\'s ADMIN_TOKEN) in the addon\'s configuration.');
        }
        return new self($url, $token, $adminName);
    }

    public function token(): string
    {
        return $this->token;
    }

    /** @throws AdminPageError */
    public function get(string $path, array $query = []): array
    {
        $url = $this->baseUrl . $path . ($query === [] ? '' : '?' . http_build_query($query, '', '&', PHP_QUERY_RFC3986));
        return $this->call('GET', $url, null);
    }

    /** @throws AdminPageError */
    public function post(string $path, array $body): array
    {
        return $this->call('POST', $this->baseUrl . $path, json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_THROW_ON_ERROR));
    }

    /** @throws AdminPageError */
    private function call(string $method, string $url, ?string $body): array
    {
        $headers = ['Accept: application/json', 'Authorization: Bearer ' . $this->token, 'X-Ictvoip-Admin-User: ' . $this->adminName];
        if ($body !== null) {
            $headers[] = 'Content-Type: application/json';
        }
        // The same limits as the server module's calls (ICTVOIP_CONNECT_TIMEOUT / ICTVOIP_TOTAL_TIMEOUT lower them).
        $answer = Http::request($method, $url, $headers, $body, Http::connectTimeout(), Http::totalTimeout());
        if ($answer['errno'] !== 0) {
            throw new AdminPageError('bridge', 'The bridge did not answer: ' . $this->scrub($answer['error']));
        }
        $status = $answer['status'];
        $json = json_decode($answer['body'], true);
        if (!is_array($json)) {
            throw new AdminPageError('bridge', 'The bridge answered HTTP ' . $status . ' with something that is not JSON.');
        }
        if ($status >= 400) {
            throw AdminPageError::fromReply($status, $json, fn (string $text) => $this->scrub($text));
        }
        return $json;
    }

    private function scrub(string $text): string
    {
        return str_replace($this->token, '[redacted]', $text);
    }
}
