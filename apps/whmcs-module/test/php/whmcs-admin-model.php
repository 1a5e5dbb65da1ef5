<?php
/**
 * Stand-in for WHMCS's admin model (WHMCS\User\Admin, an Eloquent model over tbladmins): find($id)
 * answers the admins listed in the stand-in's configuration (`admins`: id → username).
 */

namespace WHMCS\User;

final class Admin
{
    public function __construct(public readonly int $id, public readonly string $username)
    {
    }

    public static function find($id): ?self
    {
        $admins = $GLOBALS['standinConfig']['admins'] ?? [];
        $username = $admins[(string) (int) $id] ?? null;
        return is_string($username) ? new self((int) $id, $username) : null;
    }
}
