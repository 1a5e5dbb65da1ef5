<?php
/** Builds the webhook event (README, "The webhook events") from WHMCS's $params. */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class EventBuilder
{
    public const MODULE_VERSION = '1.0.0';

    /**
     * The only actions whose event carries the service password, and what staff read when WHMCS has
     * none: the bridge requires it on both (webhook 400 naming secrets.servicePassword), since create
     * makes the tenant administrator's portal login with it and change_password changes it.
     */
    private const PASSWORD_ACTIONS = [
        'create' => 'This service has no password, and the phone system needs one for the tenant administrator\'s portal login. Set a password in the service\'s Password field (Products/Services tab), save, then press Create again.',
        'change_password' => 'No new password was given. Please enter a password and try again.',
    ];
    /** The bridge's limit for a portal password (bcrypt uses the first 72 bytes only). */
    public const PASSWORD_MAX_BYTES = 72;

    /**
     * @param array $extra action-specific top-level fields (e.g. reason for suspend)
     * @throws ModuleInputError
     */
    public static function forService(string $action, array $params, array $extra = []): array
    {
        // A product moved from ictVoIP keeps its names: they are mapped here, its secrets left out.
        [$plan, $service] = IctvoipNames::apply($params, Settings::plan($params), self::service($params));
        $options = IctvoipNames::withoutSecrets(self::arrayParam($params, 'configoptions'));
        $event = self::envelope($action, $params) + [
            'service' => $service,
            'client' => self::client($params),
            'server' => self::server($params),
            'plan' => self::map($plan),
            'moduleSettings' => self::map(Settings::raw($params)),
            'configurableOptions' => self::map(Normalizer::rawOptions($options)),
            'configurableOptionsNormalized' => self::map(IctvoipNames::normalizedOptions($options, $plan)),
            'customFields' => self::map(Normalizer::customFields(IctvoipNames::withoutSecrets(self::arrayParam($params, 'customfields')))),
        ];
        if (isset(self::PASSWORD_ACTIONS[$action])) {
            $password = (string) ($params['password'] ?? '');
            if ($password === '') {
                // Refused here, before anything is sent: the bridge would refuse it anyway (400), less clearly.
                throw new ModuleInputError(self::PASSWORD_ACTIONS[$action]);
            }
            $problem = self::passwordProblem($password);
            if ($problem !== null) {
                throw new ModuleInputError($problem);
            }
            $event['secrets'] = ['servicePassword' => $password];
        }
        return array_merge($event, $extra);
    }

    /**
     * Why the bridge could never store this service password as the tenant's portal password (bcrypt reads
     * only 72 bytes; FusionPBX's login refuses control characters), or null. The bridge's worker refuses
     * such a password only after the webhook took it, so a client would be told to try again later:
     * this says the rule instead, before anything is sent, and never echoes the password.
     */
    public static function passwordProblem(string $password): ?string
    {
        if (strlen($password) > self::PASSWORD_MAX_BYTES) {
            return sprintf('The password is too long for the phone system: at most %d bytes (%d plain letters and digits, fewer with accented letters). Please choose a shorter password.', self::PASSWORD_MAX_BYTES, self::PASSWORD_MAX_BYTES);
        }
        if (preg_match('/[\x00-\x1f\x7f]/', $password)) {
            return 'The password contains a control character (such as a tab or a line break), which the phone system does not accept. Please choose another password.';
        }
        return null;
    }

    /** test_connection only has the server record: there is no service or client. */
    public static function forServer(string $action, array $params): array
    {
        return self::envelope($action, $params) + ['server' => self::server($params)];
    }

    private static function envelope(string $action, array $params): array
    {
        return [
            'schemaVersion' => 1,
            'eventId' => Uuid::v4(),
            'action' => $action,
            'occurredAt' => gmdate('Y-m-d\TH:i:s\Z'),
            'origin' => (object) array_filter([
                'moduleVersion' => self::MODULE_VERSION,
                'whmcsVersion' => isset($params['whmcsVersion']) ? (string) $params['whmcsVersion'] : null,
            ], static fn ($value) => $value !== null),
        ] + self::requestedBy();
    }

    /** An admin's press (Create, Suspend, Resync, …) names the admin for the bridge's audit; cron and clients send none. */
    private static function requestedBy(): array
    {
        $admin = AdminIdentity::named();
        return $admin === null ? [] : ['requestedBy' => $admin];
    }

    private static function service(array $params): array
    {
        $service = [
            'id' => (int) ($params['serviceid'] ?? 0),
            'pid' => (int) ($params['pid'] ?? 0),
            'domain' => (string) ($params['domain'] ?? ''),
            'username' => (string) ($params['username'] ?? ''),
            'status' => self::serviceStatus($params),
        ];
        if (isset($params['producttype'])) {
            $service['productType'] = (string) $params['producttype'];
        }
        return $service + self::billingDates($params);
    }

    /**
     * The service's billing cycle and dates (tblhosting billingcycle, nextduedate, regdate) from the
     * service model, for billing usage on the service's own cycle. Omitted when the model lacks them:
     * the bridge then asks WHMCS's API (GetClientsProducts).
     */
    private static function billingDates(array $params): array
    {
        $model = $params['model'] ?? null;
        $fields = ['billingCycle' => 'billingcycle', 'nextDueDate' => 'nextduedate', 'regDate' => 'regdate'];
        $dates = [];
        foreach ($fields as $key => $column) {
            try {
                $value = is_object($model) && isset($model->{$column}) ? $model->{$column} : null;
            } catch (\Throwable $ignored) {
                $value = null;
            }
            if ($value instanceof \DateTimeInterface) {
                $value = $value->format('Y-m-d');
            }
            if (!is_scalar($value) || (string) $value === '') {
                continue;
            }
            if ($column === 'billingcycle') {
                $dates[$key] = (string) $value;
                continue;
            }
            // Eloquent may give a date column as "2027-01-15 00:00:00": the day is what counts. A Free Account or
            // One Time service has none: 0000-00-00, which a date cast makes -0001-11-30; both are left out.
            $day = substr((string) $value, 0, 10);
            if (preg_match('/^\d{4}-\d{2}-\d{2}$/', $day) && !str_starts_with($day, '0000')) {
                $dates[$key] = $day;
            }
        }
        return $dates;
    }

    /** `status` is in $params on most versions; the service model's domainstatus column is the fallback. */
    private static function serviceStatus(array $params): string
    {
        if (isset($params['status']) && is_scalar($params['status'])) {
            return (string) $params['status'];
        }
        $model = $params['model'] ?? null;
        try {
            if (is_object($model) && isset($model->domainstatus)) {
                return (string) $model->domainstatus;
            }
        } catch (\Throwable $ignored) {
            // A model without that column: status is optional in the contract.
        }
        return '';
    }

    private static function client(array $params): array
    {
        $details = self::arrayParam($params, 'clientsdetails');
        $id = $params['userid'] ?? ($details['userid'] ?? ($details['id'] ?? 0));
        return [
            'id' => (int) $id,
            'email' => (string) ($details['email'] ?? ''),
            'companyName' => (string) ($details['companyname'] ?? ''),
            'firstName' => (string) ($details['firstname'] ?? ''),
            'lastName' => (string) ($details['lastname'] ?? ''),
        ];
    }

    /** Identity of the server record only: never its password or access hash. */
    private static function server(array $params): array
    {
        $server = ['hostname' => (string) ($params['serverhostname'] ?? '')];
        if (isset($params['serverid']) && (int) $params['serverid'] > 0) {
            $server = ['id' => (int) $params['serverid']] + $server;
        }
        return $server;
    }

    /**
     * A JSON object even when empty or when its keys look like list indexes: json_encode turns an
     * empty PHP array into `[]`, which the bridge (rightly) rejects where it expects an object.
     */
    private static function map(array $values): object
    {
        return (object) $values;
    }

    private static function arrayParam(array $params, string $name): array
    {
        return isset($params[$name]) && is_array($params[$name]) ? $params[$name] : [];
    }
}
