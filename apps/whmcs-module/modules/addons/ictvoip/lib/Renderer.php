<?php
/**
 * Renders the addon's Smarty templates. WHMCS ships Smarty (the class WHMCS's own admin pages use);
 * templates escape every value themselves (`|escape`), so nothing here trusts the data.
 */

namespace WHMCS\Module\Addon\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class Renderer
{
    public static function render(string $template, array $vars): string
    {
        $smarty = new \Smarty();
        $smarty->setTemplateDir(__DIR__ . '/../templates/');
        $smarty->setCompileDir(self::compileDir());
        $smarty->setCompileId('ictvoip_addon');
        $smarty->assign($vars);
        return $smarty->fetch($template . '.tpl');
    }

    /**
     * WHMCS's own compile directory. configuration.php ships it relative (`templates_c`), meaning the
     * WHMCS root, while an addon page runs in the admin directory: taken as it is, Smarty made (or, not
     * allowed to, failed on) a second templates_c there.
     */
    private static function compileDir(): string
    {
        $dir = $GLOBALS['templates_compiledir'] ?? '';
        if (!is_string($dir) || trim($dir) === '') {
            return sys_get_temp_dir();
        }
        $absolute = preg_match('#^([/\\\\]|[A-Za-z]:[/\\\\])#', $dir) === 1;
        return $absolute || !defined('ROOTDIR') ? $dir : rtrim((string) constant('ROOTDIR'), '/\\') . DIRECTORY_SEPARATOR . $dir;
    }
}
