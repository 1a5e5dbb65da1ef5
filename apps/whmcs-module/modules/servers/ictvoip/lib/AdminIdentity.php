<?php
/**
 * The logged-in WHMCS admin, named for the bridge's audit log: who pressed a button of this module
 * (its events) or a page of the ictvoip addon (which loads this file from here).
 */

namespace WHMCS\Module\Server\Ictvoip;

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
        return self::named() ?? 'admin';
    }

    /** The admin's name, or null when no admin is logged in (cron, the client area, the API). */
    public static function named(): ?string
    {
        $adminId = isset($_SESSION['adminid']) ? (int) $_SESSION['adminid'] : 0;
        if ($adminId <= 0) {
            return null;
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
