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
                $details[] = ['path' => (string) ($detail['path'] ?? ''), 'message' => $scrub((string) ($detail['message'] ?? ''))];
            }
        }
        return new self('refused', $scrub($message), $details, $status);
    }
}
