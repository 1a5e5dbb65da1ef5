<?php
/** A page that cannot be shown or an action the bridge refused; its message is safe to show to staff. */

namespace WHMCS\Module\Addon\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class AdminPageError extends \RuntimeException
{
    /** @param list<array{path: string, message: string}> $details */
    public function __construct(public readonly string $kind, string $message, public readonly array $details = [], public readonly int $httpStatus = 0)
    {
        parent::__construct($message);
    }

    public static function fromReply(int $status, array $json, callable $scrub): self
    {
        $message = is_string($json['error']['message'] ?? null) ? $json['error']['message'] : 'HTTP ' . $status;
        $details = [];
        foreach ((array) ($json['error']['details'] ?? []) as $detail) {
            if (is_array($detail)) {
                $details[] = ['path' => self::text($detail['path'] ?? ''), 'message' => $scrub(self::text($detail['message'] ?? ''))];
            }
        }
        return new self('refused', $scrub($message), $details, $status);
    }

    /** A scalar as text; anything else (a list where a reply of another shape had one) as nothing. */
    private static function text(mixed $value): string
    {
        return is_scalar($value) ? (string) $value : '';
    }
}
