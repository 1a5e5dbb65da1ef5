<?php
/**
 * ictVoIP bridge — WHMCS server (provisioning) module.
 *
 * A thin, stateless forwarder: every call turns WHMCS's $params into one signed JSON event for the
 * ictVoIP bridge (POST /webhooks/whmcs, see the README's "The webhook events") and maps the bridge's reply to WHMCS's
 * convention ("success" or a message). All provisioning logic, idempotency and retries live in the
 * bridge, so any call may be repeated (Module Queue retry, admin button) without doing work twice.
 *
 * Server record: hostname (or IP), port, "Secure" = HTTPS, Access Hash = the bridge's WEBHOOK_SECRET.
 * Requires PHP 8.1+ with curl, json and hash.
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/lib/ModuleInputError.php';
require_once __DIR__ . '/lib/Settings.php';
require_once __DIR__ . '/lib/IctvoipNames.php';
require_once __DIR__ . '/lib/Uuid.php';
require_once __DIR__ . '/lib/Normalizer.php';
require_once __DIR__ . '/lib/AdminIdentity.php';
require_once __DIR__ . '/lib/EventBuilder.php';
require_once __DIR__ . '/lib/BridgeEndpoint.php';
require_once __DIR__ . '/lib/BridgeReply.php';
require_once __DIR__ . '/lib/Http.php';
require_once __DIR__ . '/lib/BridgeClient.php';
require_once __DIR__ . '/lib/ReplyMapper.php';
require_once __DIR__ . '/lib/ModuleLog.php';
require_once __DIR__ . '/lib/ServiceProperties.php';
require_once __DIR__ . '/lib/Module.php';
require_once __DIR__ . '/lib/Lang.php';
require_once __DIR__ . '/lib/PageClient.php';
require_once __DIR__ . '/lib/ClientPages.php';

use WHMCS\Module\Server\Ictvoip\AdminIdentity;
use WHMCS\Module\Server\Ictvoip\BridgeEndpoint;
use WHMCS\Module\Server\Ictvoip\ClientPages;
use WHMCS\Module\Server\Ictvoip\EventBuilder;
use WHMCS\Module\Server\Ictvoip\Module;
use WHMCS\Module\Server\Ictvoip\ReplyMapper;
use WHMCS\Module\Server\Ictvoip\Settings;

function ictvoip_MetaData()
{
    return [
        'DisplayName' => 'ictVoIP Bridge (FusionPBX)',
        'APIVersion' => '1.1',
        'RequiresServer' => true,
        'DefaultNonSSLPort' => (string) BridgeEndpoint::DEFAULT_PORT,
        'DefaultSSLPort' => (string) BridgeEndpoint::DEFAULT_SSL_PORT,
    ];
}

/** Positional module settings: configoption1..18. Append new ones at the end only (see lib/Settings.php). */
function ictvoip_ConfigOptions()
{
    return Settings::configOptions();
}

function ictvoip_CreateAccount(array $params)
{
    return Module::stateChange('CreateAccount', 'create', $params);
}

function ictvoip_SuspendAccount(array $params)
{
    $reason = isset($params['suspendreason']) && is_scalar($params['suspendreason']) ? trim((string) $params['suspendreason']) : '';
    return Module::stateChange('SuspendAccount', 'suspend', $params, $reason === '' ? [] : ['reason' => $reason]);
}

function ictvoip_UnsuspendAccount(array $params)
{
    return Module::stateChange('UnsuspendAccount', 'unsuspend', $params);
}

function ictvoip_TerminateAccount(array $params)
{
    return Module::stateChange('TerminateAccount', 'terminate', $params, ['finalBilling' => true]);
}

function ictvoip_ChangePackage(array $params)
{
    return Module::stateChange('ChangePackage', 'change_package', $params);
}

function ictvoip_ChangePassword(array $params)
{
    $result = Module::stateChange('ChangePassword', 'change_password', $params);
    // WHMCS shows this function's failure to the client who changed the password in the client area:
    // staff's details (the bridge's address, Access Hash hints) stay in the module log for the admins.
    // A password the phone system can never take is the client's to fix: they read that rule.
    $passwordProblem = EventBuilder::passwordProblem((string) ($params['password'] ?? ''));
    if ($result === ReplyMapper::SUCCESS || AdminIdentity::named() !== null || $result === $passwordProblem) {
        return $result;
    }
    return ReplyMapper::CLIENT_PASSWORD_FAILURE;
}

function ictvoip_TestConnection(array $params)
{
    return Module::testConnection($params);
}

function ictvoip_AdminCustomButtonArray()
{
    return [
        'Resync' => 'Resync',
        'Reconcile' => 'Reconcile',
    ];
}

/**
 * Re-sends the service's current WHMCS state as the matching converge event, e.g. after an operator
 * changed something in FusionPBX by hand. The bridge treats each as "make it so", so this is harmless.
 */
function ictvoip_Resync(array $params)
{
    $status = strtolower(trim((string) ($params['status'] ?? '')));
    $actions = ['active' => 'create', 'suspended' => 'suspend', 'terminated' => 'terminate', 'cancelled' => 'terminate'];
    if (!isset($actions[$status])) {
        return 'Resync needs an Active, Suspended, Terminated or Cancelled service (this one is "' . ($status === '' ? 'unknown' : $status) . '").';
    }
    return Module::stateChange('Resync', $actions[$status], $params, ['trigger' => 'resync']);
}

/** Asks the bridge to compare the tenant and its billing with WHMCS now (`reconcile` event). */
function ictvoip_Reconcile(array $params)
{
    return Module::stateChange('Reconcile', 'reconcile', $params, ['trigger' => 'admin']);
}

/** Live tenant state from the bridge, shown on the admin service page. */
function ictvoip_AdminServicesTabFields(array $params)
{
    [$reply, $error] = Module::read('AdminServicesTabFields', 'admin', $params);
    if ($error !== null) {
        return ['ictVoIP bridge' => htmlspecialchars($error, ENT_QUOTES)];
    }
    $fields = [];
    $adminFields = is_array($reply['adminFields'] ?? null) ? $reply['adminFields'] : [];
    foreach ($adminFields as $label => $value) {
        if (is_scalar($value)) {
            $fields[htmlspecialchars((string) $label, ENT_QUOTES)] = htmlspecialchars((string) $value, ENT_QUOTES);
        }
    }
    return $fields === [] ? ['ictVoIP bridge' => 'No tenant state reported'] : $fields;
}

/**
 * The client's product page (templates/clientarea.tpl), from one bridge call: this period's usage
 * against the included minutes, the selected period's calls (?period=YYYY-MM or the service cycle's
 * YYYY-MM-DD, ?number= search, ?cursor= paging), phones with voicemail, numbers, prepaid credit and
 * the PBX portal link.
 */
function ictvoip_ClientArea(array $params)
{
    return [
        'tabOverviewModuleOutputTemplate' => 'templates/clientarea.tpl',
        'templateVariables' => ClientPages::overview($params, $_GET),
    ];
}

/** The customer's safe actions, shown as buttons on the product page. */
function ictvoip_ClientAreaCustomButtonArray()
{
    return ['Reset SIP password' => 'resetSipPassword'];
}

/**
 * clientarea.php?action=productdetails&id=<service>&modop=custom&a=resetSipPassword: choose a phone,
 * then (POST extension=…) a new SIP password for it, shown once on this page (templates/resetpassword.tpl).
 * The bridge applies it through the same job as a REST extension write, rate-limits and audits it.
 */
function ictvoip_resetSipPassword(array $params)
{
    $method = strtoupper((string) ($_SERVER['REQUEST_METHOD'] ?? 'GET'));
    if ($method === 'POST' && function_exists('check_token')) {
        // WHMCS client-area forms carry its CSRF token; check_token() stops a forged POST itself.
        check_token('WHMCS.default');
    }
    if (!headers_sent()) {
        // The answer holds a password: no browser or proxy may keep it.
        header('Cache-Control: no-store');
    }
    return ClientPages::resetPassword($params, $_POST + $_GET, $method);
}

/** Custom functions the client area may call without showing a button (the template links to them). */
function ictvoip_ClientAreaAllowedFunctions()
{
    return ['Download calls (CSV)' => 'downloadCalls'];
}

/**
 * clientarea.php?action=productdetails&id=<service>&modop=custom&a=downloadCalls&period=YYYY-MM:
 * the period's calls as CSV from the bridge through WHMCS (the browser never talks to the bridge), sent
 * once the bridge has finished it (PageClient::stream). WHMCS only calls it for the logged-in owner of the service.
 */
function ictvoip_downloadCalls(array $params)
{
    // WHMCS's page buffers are discarded only when the file is about to be sent (PageClient sends the
    // first header once the bridge has delivered the whole file): on a refusal or a bridge that is down
    // the message goes back to WHMCS, which shows it on its client area page, buffers intact.
    $discarded = false;
    $error = ClientPages::downloadCalls(
        $params,
        $_GET,
        static function (string $header) use (&$discarded): void {
            if (!$discarded) {
                $discarded = true;
                ictvoip_discardOutputBuffers();
            }
            header($header);
        },
        static function (string $chunk): void {
            echo $chunk;
            flush();
        }
    );
    if ($error !== null) {
        return $error;
    }
    exit;
}

/**
 * Ends the output buffers in front of the download. One started as not removable (ob_start without
 * PHP_OUTPUT_HANDLER_REMOVABLE) is emptied and kept, and ends the loop: ob_end_clean() fails on it, so
 * `while (ob_get_level())` would never end.
 */
function ictvoip_discardOutputBuffers(): void
{
    while (ob_get_level() > 0) {
        $flags = (int) (ob_get_status()['flags'] ?? 0);
        if (($flags & PHP_OUTPUT_HANDLER_REMOVABLE) && @ob_end_clean()) {
            continue;
        }
        if ($flags & PHP_OUTPUT_HANDLER_CLEANABLE) {
            @ob_clean();
        }
        return;
    }
}
