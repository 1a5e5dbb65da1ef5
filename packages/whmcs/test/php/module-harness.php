<?php
/**
 * Runs one function of the real ictvoip server module outside WHMCS, for the jest suite.
 * stdin: {"function": "CreateAccount", "params": {...}, "constants": {...}, "withModel": bool}
 * stdout: {"result": <return value>, "logs": [logModuleCall arguments], "savedProperties": [[...]]}
 * Only WHMCS's own global functions are stood in for here; the module code runs unchanged.
 */

define('WHMCS', true);

$input = json_decode((string) stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
foreach (($input['constants'] ?? []) as $name => $value) {
    define($name, $value);
}

$GLOBALS['harnessLogs'] = [];
$GLOBALS['harnessSaved'] = [];

/** WHMCS signature: module, action, request, response, processed data, values to scrub. */
function logModuleCall($module, $action, $requestString, $responseData, $processedData = '', $replaceVars = [])
{
    $GLOBALS['harnessLogs'][] = [
        'module' => $module,
        'action' => $action,
        'request' => $requestString,
        'response' => $responseData,
        'processed' => $processedData,
        'replaceVars' => $replaceVars,
    ];
}

/** Stands in for WHMCS\Service\Properties: records what the module saves. */
final class HarnessServiceProperties
{
    public function save(array $values): void
    {
        $GLOBALS['harnessSaved'][] = $values;
    }
}

/** Stands in for the service model WHMCS passes as $params['model']. */
final class HarnessServiceModel
{
    public HarnessServiceProperties $serviceProperties;
    /** tblhosting columns, as WHMCS's service model exposes them */
    public string $billingcycle = 'Quarterly';
    /** A date column as text, or as the date object an Eloquent date cast gives (test input {"dateTime": …}). */
    public string|\DateTimeInterface $nextduedate = '2027-01-15';
    public string|\DateTimeInterface $regdate = '2026-01-15 00:00:00';

    public function __construct(array $columns = [])
    {
        $this->serviceProperties = new HarnessServiceProperties();
        foreach ($columns as $column => $value) {
            $this->{$column} = is_array($value) ? new \DateTimeImmutable((string) $value['dateTime'], new \DateTimeZone('UTC')) : $value;
        }
    }
}

// An admin's press: WHMCS's session and its admin model (WHMCS\User\Admin::find) as the module reads them.
if (isset($input['session'])) {
    $_SESSION = $input['session'];
}
if (isset($input['adminUsername'])) {
    $GLOBALS['harnessAdminUsername'] = $input['adminUsername'];
    eval('namespace WHMCS\\User; final class Admin { public string $username = ""; public static function find($id) { $admin = new self(); $admin->username = (string) $GLOBALS["harnessAdminUsername"]; return $admin; } }');
}

require $input['module'];

$params = $input['params'] ?? [];
if (!empty($input['withModel'])) {
    $params['model'] = new HarnessServiceModel($input['modelColumns'] ?? []);
}
$function = 'ictvoip_' . $input['function'];
$result = in_array($input['function'], ['MetaData', 'ConfigOptions', 'AdminCustomButtonArray'], true) ? $function() : $function($params);

echo json_encode([
    'result' => $result,
    'logs' => $GLOBALS['harnessLogs'],
    'savedProperties' => $GLOBALS['harnessSaved'],
], JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION);
