<?php
/** What came back from one POST to the bridge: an HTTP answer, or a transport failure. */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class BridgeReply
{
    private function __construct(
        public readonly int $httpStatus,
        public readonly string $rawBody,
        public readonly ?array $json,
        public readonly ?string $transportError,
        public readonly bool $timedOut,
    ) {
    }

    public static function answered(int $httpStatus, string $rawBody): self
    {
        $decoded = json_decode($rawBody, true);
        return new self($httpStatus, $rawBody, is_array($decoded) ? $decoded : null, null, false);
    }

    public static function failed(string $transportError, bool $timedOut): self
    {
        return new self(0, '', null, $transportError, $timedOut);
    }

    public function isTransportFailure(): bool
    {
        return $this->transportError !== null;
    }

    public function result(): ?string
    {
        $result = $this->json['result'] ?? null;
        return is_string($result) ? $result : null;
    }

    public function message(): string
    {
        $message = $this->json['message'] ?? ($this->json['error']['message'] ?? '');
        return is_scalar($message) ? trim((string) $message) : '';
    }

    /** Bridge error details `[{path, message}]` flattened to "path: message; …". */
    public function details(): string
    {
        $details = $this->json['error']['details'] ?? null;
        if (!is_array($details)) {
            return '';
        }
        $parts = [];
        foreach ($details as $detail) {
            if (is_array($detail) && isset($detail['message'])) {
                $parts[] = (isset($detail['path']) ? $detail['path'] . ': ' : '') . $detail['message'];
            }
        }
        return implode('; ', $parts);
    }

    public function field(string $name)
    {
        return $this->json[$name] ?? null;
    }
}
