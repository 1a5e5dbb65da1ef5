<?php
/**
 * ictVoIP bridge — WHMCS addon module: the operator's pages (dashboard, rate decks, billing batches,
 * FusionPBX servers and registration alerts). A thin client of the bridge's /admin/pages routes; the
 * bridge does the work and writes every action to its audit log with the WHMCS admin's name.
 * Who may open it: Configuration → System Settings → Addon Modules → ictVoIP → Access Control.
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

// The server module's HTTP client (one curl set-up for both modules; they ship together).
require_once __DIR__ . '/../../servers/ictvoip/lib/EventBuilder.php';
require_once __DIR__ . '/../../servers/ictvoip/lib/Http.php';
require_once __DIR__ . '/lib/AdminPageError.php';
require_once __DIR__ . '/lib/AdminClient.php';
// One admin identity for both modules: the server module (modules/servers/ictvoip) ships beside this addon.
require_once __DIR__ . '/../../servers/ictvoip/lib/AdminIdentity.php';
require_once __DIR__ . '/lib/Shape.php';
require_once __DIR__ . '/lib/AdminPages.php';
require_once __DIR__ . '/lib/Renderer.php';

use WHMCS\Module\Server\Ictvoip\AdminIdentity;
use WHMCS\Module\Addon\Ictvoip\AdminPages;
use WHMCS\Module\Addon\Ictvoip\Renderer;

function ictvoip_config()
{
    return [
        'name' => 'ictVoIP Bridge',
        'description' => 'Operator pages of the ictVoIP WHMCS ⇄ FusionPBX bridge: queues and failed jobs, rate decks, billing batches, servers and registration alerts.',
        'author' => 'ictVoIP bridge contributors',
        'language' => 'english',
        'version' => '1.0',
        'fields' => [
            'bridgeUrl' => [
                'FriendlyName' => 'Bridge URL',
                'Type' => 'text',
                'Size' => '60',
                'Default' => 'http://127.0.0.1:3000',
                'Description' => 'Base URL of the bridge API as WHMCS reaches it',
            ],
            'adminToken' => [
                'FriendlyName' => 'Admin token',
                'Type' => 'password',
                'Size' => '60',
                'Default' => '',
                'Description' => 'The bridge\'s ADMIN_TOKEN (kept by WHMCS, never sent to a browser)',
            ],
        ],
    ];
}

/** Nothing to create: the addon keeps no tables, everything lives in the bridge. */
function ictvoip_activate()
{
    return ['status' => 'success', 'description' => 'Set the Bridge URL and Admin token, then choose the admin roles allowed under Access Control.'];
}

function ictvoip_deactivate()
{
    return ['status' => 'success', 'description' => 'Nothing to remove: the addon keeps no data in WHMCS.'];
}

/** addonmodules.php?module=ictvoip[&page=dashboard|ratedecks|batches|credit|servers] */
function ictvoip_output($vars)
{
    // A reply no page expects (another bridge version, a proxy's JSON) ends here as a message, never a PHP error.
    try {
        $page = AdminPages::handle($vars, $_GET, $_POST, $_FILES, AdminIdentity::current());
        echo Renderer::render($page['template'], $page['vars']);
    } catch (\Throwable $error) {
        echo '<div class="alert alert-danger">ictVoIP: the page could not be rendered (' . htmlspecialchars($error->getMessage(), ENT_QUOTES) . ').</div>';
    }
}
