<?php
/**
 * A stand-in for the two WHMCS entry points the modules render in, served by `php -S` (router script):
 *   /clientarea.php?action=productdetails&id=<serviceid>[&modop=custom&a=<function>]  (server module)
 *   /admin/addonmodules.php?module=ictvoip[&page=…]                                   (addon module)
 * It calls the real module functions the way WHMCS does ($params for the service, $vars for the addon,
 * ClientAreaAllowedFunctions for custom actions), renders the returned Smarty template, and wraps it
 * in a page with the default theme's Bootstrap when Debian's libjs-bootstrap4 is installed.
 * `&harness=json` answers with the data instead (template name and variables) for the PHP tests.
 * Configuration: the JSON file named by ICTVOIP_STANDIN_CONFIG: {server: {...}, services: [{...}],
 * addon: {...}, smarty: "/path/Smarty.class.php", moduleLog: "/path/log.jsonl", admins: {id: username}}.
 * Only WHMCS's own globals are stood in for here; the module code runs unchanged.
 */

define('WHMCS', true);

$config = json_decode((string) file_get_contents((string) getenv('ICTVOIP_STANDIN_CONFIG')), true, 512, JSON_THROW_ON_ERROR);
$GLOBALS['standinConfig'] = $config;
foreach (($config['constants'] ?? []) as $name => $value) {
    define($name, $value);
}
$GLOBALS['templates_compiledir'] = $config['compileDir'];
require_once $config['smarty'];
require_once __DIR__ . '/whmcs-admin-model.php';

/**
 * WHMCS signature: module, action, request, response, processed data, values to scrub. Like WHMCS,
 * the values to scrub are replaced in what is written and never written themselves.
 */
function logModuleCall($module, $action, $requestString, $responseData, $processedData = '', $replaceVars = [])
{
    $line = json_encode(['module' => $module, 'action' => $action, 'request' => $requestString, 'response' => $responseData, 'processed' => $processedData], JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR);
    foreach ($replaceVars as $secret) {
        if (is_string($secret) && $secret !== '') {
            $line = str_replace([$secret, trim(json_encode($secret, JSON_UNESCAPED_SLASHES), '"')], '***', $line);
        }
    }
    file_put_contents($GLOBALS['standinConfig']['moduleLog'], $line . "\n", FILE_APPEND | LOCK_EX);
}

/**
 * WHMCS's CSRF check for client-area forms: a POST whose `token` is not the session's stops here
 * (WHMCS answers with its own error page and runs nothing more).
 */
function check_token($namespace = 'WHMCS.default')
{
    if (!hash_equals((string) $GLOBALS['standinConfig']['csrfToken'], (string) ($_POST['token'] ?? ''))) {
        http_response_code(403);
        standinPage('Invalid token', '<p>Invalid CSRF Protection Token</p>');
        exit;
    }
}

/** WHMCS's token for forms: 'plain' is the token itself, 'form' a hidden input, 'link' a query parameter. */
function generate_token($type = 'form')
{
    $token = (string) $GLOBALS['standinConfig']['csrfToken'];
    return match ($type) {
        'plain' => $token,
        'link' => '&token=' . $token,
        default => '<input type="hidden" name="token" value="' . htmlspecialchars($token, ENT_QUOTES) . '" />',
    };
}

function standinPage(string $title, string $body): void
{
    header('Content-Type: text/html; charset=utf-8');
    echo standinPageTop($title) . $body . standinPageBottom();
}

function standinPageBottom(): string
{
    return '</div></body></html>';
}

function standinPageTop(string $title): string
{
    $css = '';
    foreach (['/usr/share/javascript/bootstrap4/css/bootstrap.min.css', '/usr/share/nodejs/bootstrap/dist/css/bootstrap.min.css'] as $file) {
        if (is_file($file)) {
            $css = '<style>' . file_get_contents($file) . '</style>';
            break;
        }
    }
    return '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>' . htmlspecialchars($title, ENT_QUOTES) . '</title>' . $css
        . '<style>body{padding:20px;font-size:14px}</style></head><body><div class="container-fluid"><h2>' . htmlspecialchars($title, ENT_QUOTES) . '</h2>';
}

function standinJson(array $data): void
{
    header('Content-Type: application/json');
    echo json_encode($data, JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR);
}

function renderSmarty(string $templateDir, string $template, array $variables): string
{
    $smarty = new Smarty();
    $smarty->setTemplateDir($templateDir);
    $smarty->setCompileDir($GLOBALS['templates_compiledir']);
    // WHMCS assigns the session's CSRF token to every client-area template.
    $smarty->assign(['token' => $GLOBALS['standinConfig']['csrfToken'] ?? ''] + $variables);
    return $smarty->fetch($template);
}

function clientArea(array $config): void
{
    $service = null;
    foreach ($config['services'] as $candidate) {
        if ((int) ($_GET['id'] ?? 0) === (int) $candidate['serviceid']) {
            $service = $candidate;
        }
    }
    if ($service === null) {
        http_response_code(404);
        standinPage('Not found', '<p>No such service for this client.</p>');
        return;
    }
    $params = array_merge($service, $config['server']);
    require $config['serverModule'];
    if (($_GET['modop'] ?? '') === 'custom') {
        // WHMCS runs the client's custom buttons and the allowed functions, nothing else.
        $allowed = array_merge(array_values(ictvoip_ClientAreaAllowedFunctions()), array_values(ictvoip_ClientAreaCustomButtonArray()));
        $function = (string) ($_GET['a'] ?? '');
        if (!in_array($function, $allowed, true)) {
            http_response_code(403);
            standinPage('Not allowed', '<p>This function is not allowed.</p>');
            return;
        }
        // WHMCS builds the client area page in output buffers (its layout, hooks' output) while a
        // custom function runs: a function that streams a file must discard them, one that returns a
        // message must leave them, or the page reaches the client without its top.
        ob_start();
        header('Content-Type: text/html; charset=utf-8');
        echo standinPageTop('Product details');
        $result = call_user_func('ictvoip_' . $function, $params);
        if (is_string($result)) {
            // WHMCS shows a custom function's message on the product page.
            echo '<div class="alert alert-danger" id="module-error">' . htmlspecialchars($result, ENT_QUOTES) . '</div>' . standinPageBottom();
            ob_end_flush();
            return;
        }
        ob_end_clean();
        if (is_array($result) && isset($result['templatefile'])) {
            // A custom page: WHMCS renders <module dir>/<templatefile>.tpl with the returned vars.
            if (($_GET['harness'] ?? '') === 'json') {
                standinJson($result);
                return;
            }
            standinPage('Product details', renderSmarty(dirname($config['serverModule']), $result['templatefile'] . '.tpl', $result['vars'] ?? []));
            return;
        }
        // WHMCS shows a custom function's message on the product page.
        standinPage('Product details', '<div class="alert alert-danger" id="module-error">' . htmlspecialchars((string) $result, ENT_QUOTES) . '</div>');
        return;
    }
    $output = ictvoip_ClientArea($params);
    if (($_GET['harness'] ?? '') === 'json') {
        standinJson($output);
        return;
    }
    $html = renderSmarty(dirname($config['serverModule']), $output['tabOverviewModuleOutputTemplate'], $output['templateVariables']);
    standinPage('Product details', $html);
}

function addonLang(string $addonDir): array
{
    $_ADDONLANG = [];
    include $addonDir . '/lang/english.php';
    return $_ADDONLANG;
}

function addonPage(array $config): void
{
    session_start();
    $_SESSION['adminid'] = 1;
    require $config['addonModule'];
    $vars = array_merge($config['addon'], [
        'module' => 'ictvoip',
        'modulelink' => 'addonmodules.php?module=ictvoip',
        'version' => '1.0',
        '_lang' => addonLang(dirname($config['addonModule'])),
    ]);
    if (($_GET['harness'] ?? '') === 'json') {
        standinJson(\WHMCS\Module\Addon\Ictvoip\AdminPages::handle($vars, $_GET, $_POST, $_FILES, \WHMCS\Module\Server\Ictvoip\AdminIdentity::current()));
        return;
    }
    ob_start();
    ictvoip_output($vars);
    standinPage('ictVoIP Bridge', (string) ob_get_clean());
}

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
if ($path === '/clientarea.php') {
    clientArea($config);
} elseif ($path === '/admin/addonmodules.php' && ($_GET['module'] ?? '') === 'ictvoip') {
    addonPage($config);
} else {
    http_response_code(404);
    echo 'not found';
}
