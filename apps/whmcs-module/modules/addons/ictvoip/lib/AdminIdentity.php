<?php
/** Who is looking: the logged-in WHMCS admin, named for the bridge's audit log. */

namespace WHMCS\Module\Addon\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class AdminIdentity
{
    /**
     * "<username> (admin #<id>)": the user name says who it was, the id stays true when the name
     * changes. WHMCS's admin model (WHMCS\User\Admin) gives the name; without it only the id is known.
     */
    public static function current(): string
    {
        $adminId = isset($_SESSION['adminid']) ? (int) $_SESSION['adminid'] : 0;
        if ($adminId <= 0) {
            return 'admin';
        }
        $username = '';
        try {
            if (class_exists('\WHMCS\User\Admin')) {
                $admin = \WHMCS\User\Admin::find($adminId);
                $username = is_object($admin) && isset($admin->username) && is_string($admin->username) ? $admin->username : '';
            }
        } catch (\Throwable $error) {
            $username = '';
        }
        // It travels in an HTTP header: only plain characters.
        $username = substr((string) preg_replace('/[^A-Za-z0-9@._-]/', '', $username), 0, 60);
        return $username === '' ? 'admin #' . $adminId : $username . ' (admin #' . $adminId . ')';
    }
}
