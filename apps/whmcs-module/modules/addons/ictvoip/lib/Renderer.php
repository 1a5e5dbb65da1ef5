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
        $compileDir = $GLOBALS['templates_compiledir'] ?? sys_get_temp_dir();
        $smarty->setCompileDir(is_string($compileDir) && $compileDir !== '' ? $compileDir : sys_get_temp_dir());
        $smarty->setCompileId('ictvoip_addon');
        $smarty->assign($vars);
        return $smarty->fetch($template . '.tpl');
    }
}
