<?php
/** Where and how to reach the bridge, from the WHMCS server record assigned to the product. */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class BridgeEndpoint
{
    public const WEBHOOK_PATH = '/webhooks/whmcs';
    /** The server form's default ports (MetaData): the bridge's PORT default, and HTTPS in front of it. */
    public const DEFAULT_PORT = 3000;
    public const DEFAULT_SSL_PORT = 443;

    private function __construct(public readonly string $baseUrl, private readonly string $secret)
    {
    }

    /** @throws ModuleInputError */
    public static function fromParams(array $params): self
    {
        $host = trim((string) ($params['serverhostname'] ?? ''));
        if ($host === '') {
            $host = trim((string) ($params['serverip'] ?? ''));
        }
        if ($host === '') {
            throw new ModuleInputError('The server record has no hostname or IP address for the bridge');
        }
        $secret = (string) ($params['serveraccesshash'] ?? '');
        if (trim($secret) === '') {
            throw new ModuleInputError('The server record has no Access Hash: set it to the bridge\'s WEBHOOK_SECRET');
        }
        return new self(self::baseUrl($host, $params), trim($secret));
    }

    public function secret(): string
    {
        return $this->secret;
    }

    public function webhookUrl(?int $waitSeconds): string
    {
        $url = $this->baseUrl . self::WEBHOOK_PATH;
        return $waitSeconds === null ? $url : $url . '?wait=' . $waitSeconds;
    }

    private static function baseUrl(string $host, array $params): string
    {
        $secure = !empty($params['serversecure']) && $params['serversecure'] !== 'off';
        if (preg_match('#^https?://#i', $host)) {
            // An admin pasted a URL into the hostname field: honour its scheme, host and port as given.
            return rtrim($host, '/');
        }
        $scheme = $secure ? 'https' : 'http';
        if (filter_var($host, FILTER_VALIDATE_IP, FILTER_FLAG_IPV6) !== false) {
            $host = '[' . $host . ']';
        } elseif (preg_match('/^([^:\[\]\/]+):(\d{1,5})$/', $host, $typed)) {
            // "host:port" typed into the hostname field: that port, as with a pasted URL.
            return $scheme . '://' . $typed[1] . ':' . $typed[2];
        }
        // No port on the record (the form's override left unticked) means the form's default, not HTTP's 80.
        $port = (int) ($params['serverport'] ?? 0);
        $port = $port > 0 ? $port : ($secure ? self::DEFAULT_SSL_PORT : self::DEFAULT_PORT);
        $schemePort = $secure ? 443 : 80;
        return $scheme . '://' . $host . ($port !== $schemePort ? ':' . $port : '');
    }
}
