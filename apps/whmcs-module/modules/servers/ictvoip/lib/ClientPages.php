<?php
/**
 * The client area's data: this period's usage, the selected period's calls (paged, searchable by
 * number), the phones with voicemail, the numbers, the credit state (one `overview` read), the CSV
 * download and the SIP password reset, all asked of the bridge server-to-server. Request values are
 * checked here before they reach the bridge or a link.
 */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class ClientPages
{
    public const OVERVIEW_PATH = '/whmcs/client/overview';
    public const CALLS_CSV_PATH = '/whmcs/client/calls.csv';
    public const PHONES_PATH = '/whmcs/client/phones';
    public const RESET_PATH = '/whmcs/client/phones/reset-password';
    public const PAGE_SIZE = 25;
    /** YYYY-MM, or YYYY-MM-DD for a service whose billing cycle starts on another day than the 1st. */
    public const PERIOD_PATTERN = '/^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$/';

    /** Calls per page; ICTVOIP_CALLS_PAGE_SIZE (1-100) in WHMCS's configuration.php changes it. */
    public static function pageSize(): int
    {
        $size = defined('ICTVOIP_CALLS_PAGE_SIZE') ? (int) constant('ICTVOIP_CALLS_PAGE_SIZE') : self::PAGE_SIZE;
        return max(1, min(100, $size));
    }

    /**
     * Template variables of templates/clientarea.tpl, from one bridge call (`overview`): the
     * selected period's calls and totals, this period's usage, phones, numbers and credit.
     */
    public static function overview(array $params, array $request): array
    {
        $lang = Lang::strings($params);
        $serviceId = (int) ($params['serviceid'] ?? 0);
        $selection = self::selection($request);
        $variables = [
            'ictvoip' => ['usage' => null],
            'ictvoipUnavailable' => true,
            'ictvoipLang' => $lang,
            'ictvoipCalls' => null,
            'ictvoipCallsUnavailable' => true,
            'ictvoipPhones' => null,
            'ictvoipPhonesUnavailable' => true,
            'ictvoipNumbers' => [],
            'ictvoipCredit' => null,
            'ictvoipSearch' => $selection['number'],
            'ictvoipSearchInvalid' => $selection['numberInvalid'],
            'ictvoipPortalUrl' => '',
            'ictvoipServiceId' => $serviceId,
            'ictvoipLinks' => ['base' => self::baseLink($serviceId), 'reset' => self::baseLink($serviceId) . '&modop=custom&a=resetSipPassword'],
        ];
        $secrets = ModuleLog::secrets($params);
        try {
            $endpoint = BridgeEndpoint::fromParams($params);
        } catch (ModuleInputError $error) {
            ModuleLog::record('ClientArea', [], '', ModuleLog::scrub($error->getMessage(), $secrets), $secrets);
            return $variables;
        }
        $body = ['serviceId' => $serviceId, 'limit' => self::pageSize()];
        foreach (['period', 'number', 'cursor'] as $key) {
            if ($selection[$key] !== '') {
                $body[$key] = $selection[$key];
            }
        }
        [$page, $error] = PageClient::read($endpoint, self::OVERVIEW_PATH, $body);
        ModuleLog::record('ClientArea', ['path' => self::OVERVIEW_PATH, 'body' => $body], $error ?? 'ok', $error ?? 'success', $secrets);
        if ($page === null) {
            return $variables;
        }
        return array_merge($variables, [
            'ictvoip' => ['usage' => self::usageView($page['usage'] ?? null)],
            'ictvoipUnavailable' => false,
            'ictvoipCalls' => self::callsView($page, $lang),
            'ictvoipCallsUnavailable' => false,
            'ictvoipPhones' => self::phonesView($page),
            'ictvoipPhonesUnavailable' => false,
            'ictvoipNumbers' => self::numbersView($page),
            'ictvoipCredit' => self::creditView($page['credit'] ?? null),
            'ictvoipPortalUrl' => self::safeUrl($page['portalUrl'] ?? ''),
            'ictvoipLinks' => $variables['ictvoipLinks'] + self::callLinks($serviceId, $page),
        ]);
    }

    /**
     * The "Reset SIP password" page (custom button): GET shows the phones to choose from; a POST
     * with `extension` asks the bridge for a new password and shows it once. The password is in
     * this page only: never logged, never stored by WHMCS, and the page is not cached.
     *
     * @return array{templatefile: string, breadcrumb: array, vars: array}
     */
    public static function resetPassword(array $params, array $request, string $method): array
    {
        $lang = Lang::strings($params);
        $serviceId = (int) ($params['serviceid'] ?? 0);
        $vars = [
            'ictvoipLang' => $lang,
            'ictvoipServiceId' => $serviceId,
            'ictvoipLinks' => ['base' => self::baseLink($serviceId), 'reset' => self::baseLink($serviceId) . '&modop=custom&a=resetSipPassword'],
            'ictvoipExtensions' => [],
            'ictvoipChosen' => '',
            'ictvoipReset' => null,
            'ictvoipResetError' => '',
        ];
        $page = static fn (array $vars): array => [
            'templatefile' => 'templates/resetpassword',
            'breadcrumb' => [$vars['ictvoipLinks']['reset'] => $lang['resetTitle'] ?? 'Reset SIP password'],
            'vars' => $vars,
        ];
        $secrets = ModuleLog::secrets($params);
        try {
            $endpoint = BridgeEndpoint::fromParams($params);
        } catch (ModuleInputError $error) {
            ModuleLog::record('resetSipPassword', [], '', ModuleLog::scrub($error->getMessage(), $secrets), $secrets);
            $vars['ictvoipResetError'] = $lang['unavailable'] ?? 'unavailable';
            return $page($vars);
        }
        $extension = is_string($request['extension'] ?? null) && preg_match('/^[0-9]{1,15}$/', $request['extension']) ? $request['extension'] : '';
        if ($method === 'POST' && $extension !== '') {
            $vars['ictvoipChosen'] = $extension;
            [$vars['ictvoipReset'], $vars['ictvoipResetError']] = self::reset($endpoint, $params, $extension, $lang, $secrets);
        }
        if ($vars['ictvoipReset'] === null) {
            [$phones, $error] = PageClient::read($endpoint, self::PHONES_PATH, ['serviceId' => $serviceId]);
            ModuleLog::record('resetSipPassword', ['path' => self::PHONES_PATH], $error ?? 'ok', $error ?? 'success', $secrets);
            foreach ($phones === null ? [] : self::phonesView($phones) as $phone) {
                $vars['ictvoipExtensions'][] = ['extension' => $phone['extension'], 'name' => $phone['name'], 'selected' => $phone['extension'] === $extension];
            }
            if ($phones === null && $vars['ictvoipResetError'] === '') {
                $vars['ictvoipResetError'] = $lang['unavailable'] ?? 'unavailable';
            }
        }
        return $page($vars);
    }

    /** @return array{0: ?array, 1: string} [the new password's view, ''] or [null, message for the customer] */
    private static function reset(BridgeEndpoint $endpoint, array $params, string $extension, array $lang, array $secrets): array
    {
        $body = ['serviceId' => (int) ($params['serviceid'] ?? 0), 'extension' => $extension];
        if ((int) ($params['userid'] ?? 0) > 0) {
            $body['clientId'] = (int) $params['userid'];
        }
        [$reply, $error] = PageClient::call($endpoint, self::RESET_PATH, $body);
        $password = is_string($reply?->json['password'] ?? null) ? $reply->json['password'] : '';
        // The new password is one more secret: it never reaches WHMCS's module log.
        $secrets = $password === '' ? $secrets : array_merge($secrets, [$password]);
        ModuleLog::record('resetSipPassword', ['path' => self::RESET_PATH, 'body' => $body], $error ?? 'reset', $error ?? ('success: ' . (string) ($reply?->json['state'] ?? '')), $secrets);
        if ($error === null && $password !== '') {
            return [['extension' => $extension, 'password' => $password, 'pending' => ($reply->json['state'] ?? '') !== 'applied'], ''];
        }
        $status = $reply?->httpStatus ?? 0;
        $message = match (true) {
            $status === 429 => $lang['resetTooMany'] ?? 'Too many resets',
            $status === 404 => $lang['resetUnknown'] ?? 'Unknown extension',
            $status === 409 => $lang['resetNotActive'] ?? 'Not possible right now',
            default => $lang['resetFailed'] ?? 'Reset failed',
        };
        return [null, $message];
    }

    /**
     * Proxies the period's CSV from the bridge to the browser. Returns null once the file was sent, or
     * the message to show when nothing could be sent.
     */
    public static function downloadCalls(array $params, array $request, callable $sendHeader, callable $sendChunk): ?string
    {
        $lang = Lang::strings($params);
        $secrets = ModuleLog::secrets($params);
        $selection = self::selection($request);
        try {
            $endpoint = BridgeEndpoint::fromParams($params);
        } catch (ModuleInputError $error) {
            ModuleLog::record('downloadCalls', [], '', ModuleLog::scrub($error->getMessage(), $secrets), $secrets);
            return $lang['downloadFailed'] ?? 'Download failed';
        }
        $body = ['serviceId' => (int) ($params['serviceid'] ?? 0)];
        foreach (['period', 'number'] as $key) {
            if ($selection[$key] !== '') {
                $body[$key] = $selection[$key];
            }
        }
        $error = PageClient::stream($endpoint, self::CALLS_CSV_PATH, $body, $sendHeader, $sendChunk);
        ModuleLog::record('downloadCalls', ['path' => self::CALLS_CSV_PATH, 'body' => $body], $error ?? 'streamed', $error ?? 'success', $secrets);
        return $error === null ? null : ($lang['downloadFailed'] ?? 'Download failed');
    }

    /** period (YYYY-MM), number (digits, + * #) and cursor from the query string; anything else is dropped. */
    public static function selection(array $request): array
    {
        $period = is_string($request['period'] ?? null) && preg_match(self::PERIOD_PATTERN, $request['period']) ? $request['period'] : '';
        $rawNumber = is_string($request['number'] ?? null) ? trim($request['number']) : '';
        $numberValid = $rawNumber === '' || preg_match('/^[0-9+*#]{1,32}$/', $rawNumber) === 1;
        $cursor = is_string($request['cursor'] ?? null) && preg_match('/^[A-Za-z0-9_-]{1,500}$/', $request['cursor']) ? $request['cursor'] : '';
        return ['period' => $period, 'number' => $numberValid ? $rawNumber : '', 'numberInvalid' => !$numberValid, 'cursor' => $cursor];
    }

    private static function baseLink(int $serviceId): string
    {
        return 'clientarea.php?action=productdetails&id=' . $serviceId;
    }

    private static function callLinks(int $serviceId, array $calls): array
    {
        $base = self::baseLink($serviceId);
        $period = (string) ($calls['period'] ?? '');
        $number = (string) ($calls['number'] ?? '');
        $query = static fn (array $values): string => http_build_query(array_filter($values, static fn ($value) => $value !== ''), '', '&', PHP_QUERY_RFC3986);
        $periods = [];
        foreach ((array) ($calls['periods'] ?? []) as $option) {
            $periods[] = ['value' => (string) $option, 'selected' => (string) $option === $period];
        }
        return [
            'periods' => $periods,
            'csv' => $base . '&modop=custom&a=downloadCalls&' . $query(['period' => $period, 'number' => $number]),
            'next' => is_string($calls['nextCursor'] ?? null) ? $base . '&' . $query(['period' => $period, 'number' => $number, 'cursor' => $calls['nextCursor']]) : '',
            'first' => $base . '&' . $query(['period' => $period, 'number' => $number]),
            'clearSearch' => $base . '&' . $query(['period' => $period]),
        ];
    }

    private static function callsView(array $calls, array $lang): array
    {
        $rows = [];
        foreach ((array) ($calls['calls'] ?? []) as $call) {
            if (!is_array($call)) {
                continue;
            }
            $status = (string) ($call['status'] ?? 'pending');
            $rows[] = [
                'date' => self::dateText((string) ($call['start'] ?? '')),
                'from' => (string) ($call['from'] ?? ''),
                'fromName' => (string) ($call['fromName'] ?? ''),
                'to' => (string) ($call['to'] ?? ''),
                'direction' => (string) ($call['direction'] ?? ''),
                'duration' => self::durationText((int) ($call['billsec'] ?? 0)),
                'rated' => $status === 'rated',
                'amount' => $status === 'rated' ? self::amountText((string) ($call['amount'] ?? '0')) . ' ' . (string) ($call['currency'] ?? '') : '',
                'statusText' => $lang[['not_billable' => 'notBillable', 'unrated' => 'unrated'][$status] ?? 'pending'] ?? $status,
                'reason' => (string) ($call['reason'] ?? ''),
            ];
        }
        $totals = is_array($calls['totals'] ?? null) ? $calls['totals'] : [];
        return [
            'period' => (string) ($calls['period'] ?? ''),
            'periodStart' => (string) ($calls['periodStart'] ?? ''),
            'periodEnd' => (string) ($calls['periodEnd'] ?? ''),
            // The bridge's end is the next period's first day (exclusive); a customer reads the last day.
            'periodLastDay' => self::dayBefore((string) ($calls['periodEnd'] ?? '')),
            'timeZone' => (string) ($calls['timeZone'] ?? 'UTC'),
            'rows' => $rows,
            'ratedCalls' => (int) ($totals['ratedCalls'] ?? 0),
            'unratedCalls' => (int) ($totals['unratedCalls'] ?? 0),
            'amount' => self::amountText((string) ($totals['amount'] ?? '0')),
            ...self::billedView($totals),
            'currency' => self::currencyText($totals['currency'] ?? ''),
            'paged' => is_string($calls['nextCursor'] ?? null) || !empty($calls['cursor']),
        ];
    }

    /** This period's usage: minutes against the plan's included minutes, amount with its currency. */
    private static function usageView(mixed $usage): ?array
    {
        if (!is_array($usage)) {
            return null;
        }
        $included = isset($usage['includedMinutes']) && is_int($usage['includedMinutes']) ? $usage['includedMinutes'] : null;
        $minutes = (int) ($usage['minutes'] ?? 0);
        return [
            'period' => (string) ($usage['period'] ?? ''),
            'minutes' => $minutes,
            'includedMinutes' => $included,
            'minutesLeft' => $included === null ? null : max(0, $included - $minutes),
            'percentUsed' => $included === null || $included === 0 ? null : min(100, (int) floor($minutes * 100 / $included)),
            'calls' => (int) ($usage['calls'] ?? 0),
            'amount' => self::amountText((string) ($usage['amount'] ?? '0')),
            ...self::billedView($usage),
            'currency' => self::currencyText($usage['currency'] ?? ''),
            'unratedCalls' => (int) ($usage['unratedCalls'] ?? 0),
        ];
    }

    /**
     * The adjustments and credits the period's bill adds to its calls ('' when none), and the bill's
     * total ('' when it is the calls' amount): the page shows them only when they change what is billed.
     */
    private static function billedView(array $figures): array
    {
        $adjustments = (string) ($figures['adjustments'] ?? '0');
        $amount = self::amountText((string) ($figures['amount'] ?? '0'));
        $total = self::amountText((string) ($figures['total'] ?? $amount));
        $currency = self::currencyText($figures['currency'] ?? '');
        $own = preg_match('/^-?0*(\.0*)?$/', $adjustments) ? '' : self::amountText($adjustments);
        return [
            'adjustments' => $own,
            'adjustmentLines' => self::adjustmentLines($figures, $own, $currency),
            'total' => $total === $amount ? '' : $total,
        ];
    }

    /**
     * One line per currency of the bill's adjustments: a bill takes only its own currency's, so a -5.00 EUR credit
     * beside 3.00 USD pending is shown as both, never summed under one label. A bridge older than adjustmentsByCurrency
     * sends one figure: one line, under the calls' currency, as it was shown before.
     */
    private static function adjustmentLines(array $figures, string $own, string $currency): array
    {
        if (!is_array($figures['adjustmentsByCurrency'] ?? null)) {
            return $own === '' ? [] : [['amount' => $own, 'currency' => $currency]];
        }
        $lines = [];
        foreach ($figures['adjustmentsByCurrency'] as $sum) {
            if (!is_array($sum) || !is_string($sum['amount'] ?? null) || preg_match('/^-?0*(\.0*)?$/', $sum['amount'])) {
                continue;
            }
            // Recorded with no currency: the bill of the calls' currency takes it.
            $lines[] = ['amount' => self::amountText($sum['amount']), 'currency' => is_string($sum['currency'] ?? null) ? self::currencyText(strtoupper(trim($sum['currency']))) : $currency];
        }
        return $lines;
    }

    private static function numbersView(array $page): array
    {
        $rows = [];
        foreach ((array) ($page['numbers'] ?? []) as $number) {
            if (is_array($number)) {
                $rows[] = [
                    'number' => (string) ($number['e164'] ?? '') !== '' ? (string) $number['e164'] : (string) ($number['number'] ?? ''),
                    'destination' => (string) ($number['destination'] ?? ''),
                    'enabled' => !empty($number['enabled']),
                    'description' => (string) ($number['description'] ?? ''),
                ];
            }
        }
        return $rows;
    }

    /** Prepaid credit (credit control): state, what is still available, and the last reminder mailed. */
    private static function creditView(mixed $credit): ?array
    {
        if (!is_array($credit)) {
            return null;
        }
        $mail = is_array($credit['lastMail'] ?? null) ? $credit['lastMail'] : null;
        $state = in_array($credit['state'] ?? '', ['ok', 'low', 'zero'], true) ? $credit['state'] : 'ok';
        $kind = in_array($mail['kind'] ?? '', ['low', 'zero'], true) ? $mail['kind'] : '';
        return [
            'state' => $state,
            'stateKey' => 'credit_' . $state,
            'mode' => (string) ($credit['mode'] ?? ''),
            'available' => isset($credit['available']) && is_string($credit['available']) ? self::amountText($credit['available']) : '',
            'threshold' => self::positiveAmountText($credit['threshold'] ?? null),
            'creditLimit' => self::positiveAmountText($credit['creditLimit'] ?? null),
            'currency' => self::currencyText($credit['currency'] ?? ''),
            'restricted' => !empty($credit['restricted']),
            'lastMail' => $mail === null ? null : ['kind' => $kind, 'textKey' => 'creditMail_' . $kind, 'at' => self::dateText((string) ($mail['at'] ?? ''))],
        ];
    }

    /** An ISO 4217 code or nothing. */
    private static function currencyText(mixed $currency): string
    {
        return is_string($currency) && preg_match('/^[A-Z]{3}$/', $currency) ? $currency : '';
    }

    private static function phonesView(array $phones): array
    {
        $rows = [];
        foreach ((array) ($phones['phones'] ?? []) as $phone) {
            if (!is_array($phone)) {
                continue;
            }
            $state = empty($phone['enabled']) ? 'disabled' : (!empty($phone['registered']) ? 'registered' : (!empty($phone['lost']) ? 'lost' : 'notRegistered'));
            $rows[] = [
                'extension' => (string) ($phone['extension'] ?? ''),
                'name' => (string) ($phone['name'] ?? ''),
                'state' => $state,
                'device' => (string) ($phone['device'] ?? ''),
                'since' => isset($phone['since']) && is_string($phone['since']) ? self::dateText($phone['since']) : '',
                'voicemail' => is_array($phone['voicemail'] ?? null) ? ['new' => (int) ($phone['voicemail']['new'] ?? 0), 'saved' => (int) ($phone['voicemail']['saved'] ?? 0)] : null,
            ];
        }
        return $rows;
    }

    /** "2026-10-01T12:00:05.000000Z" → "2026-10-01 12:00:05" (UTC, as the bridge stores it). */
    private static function dateText(string $iso): string
    {
        return preg_match('/^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/', $iso, $match) ? $match[1] . ' ' . $match[2] : $iso;
    }

    private static function durationText(int $seconds): string
    {
        $seconds = max(0, $seconds);
        return sprintf('%d:%02d', intdiv($seconds, 60), $seconds % 60);
    }

    /** The bridge's exact decimal string, trailing zeros beyond two places dropped; never a float. */
    /** `YYYY-MM-DD` minus one day, or '' for anything else. */
    private static function dayBefore(string $date): string
    {
        $day = preg_match('/^\d{4}-\d{2}-\d{2}$/', $date) ? \DateTimeImmutable::createFromFormat('!Y-m-d', $date, new \DateTimeZone('UTC')) : false;
        return $day === false ? '' : $day->modify('-1 day')->format('Y-m-d');
    }

    /** A decimal amount above zero as text (5.00), else '' (no threshold, prepaid without a credit limit). */
    private static function positiveAmountText(mixed $amount): string
    {
        if (!is_string($amount) || !preg_match('/^\d+(\.\d+)?$/', $amount) || preg_match('/^0*(\.0*)?$/', $amount)) {
            return '';
        }
        return self::amountText($amount);
    }

    private static function amountText(string $amount): string
    {
        if (!preg_match('/^(-?\d+)(?:\.(\d+))?$/', $amount, $match)) {
            return $amount;
        }
        $fraction = rtrim($match[2] ?? '', '0');
        return $match[1] . '.' . str_pad($fraction, 2, '0');
    }

    /** Only http(s) links reach the template: a value from elsewhere can never become `javascript:`. */
    private static function safeUrl(mixed $url): string
    {
        return is_string($url) && preg_match('#^https?://[^\s"<>]+$#i', $url) ? $url : '';
    }
}
