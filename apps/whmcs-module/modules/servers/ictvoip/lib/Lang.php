<?php
/** The client area's texts from lang/<language>.php (WHMCS language file format), english as fallback. */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class Lang
{
    public const FALLBACK = 'english';

    /**
     * The client's language (WHMCS passes it in clientsdetails), then the system default, then english,
     * key by key: each later layer overrides the one before where it has the text (a language without a
     * file adds nothing), so a client whose language is english reads english whatever the default.
     */
    public static function strings(array $params): array
    {
        $layers = [self::FALLBACK, $GLOBALS['CONFIG']['Language'] ?? null, $params['clientsdetails']['language'] ?? null];
        $strings = [];
        foreach ($layers as $candidate) {
            $language = strtolower(trim((string) $candidate));
            // Only a plain file name: the value reaches a path.
            if ($language !== '' && preg_match('/^[a-z_-]{2,40}$/', $language)) {
                $strings = array_merge($strings, self::load($language));
            }
        }
        return $strings;
    }

    private static function load(string $language): array
    {
        $file = __DIR__ . '/../lang/' . $language . '.php';
        if (!is_file($file)) {
            return [];
        }
        $read = static function (string $file): array {
            $_LANG = [];
            include $file;
            return is_array($_LANG) ? $_LANG : [];
        };
        return $read($file);
    }
}
