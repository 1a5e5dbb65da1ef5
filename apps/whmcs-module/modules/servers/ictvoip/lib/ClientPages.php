<?php
/**
 * The client area's data: this period's usage (the `status` read), the selected period's calls
 * (paged, searchable by number), the phones, and the CSV download, all asked of the bridge
 * server-to-server. Request values are checked here before they reach the bridge or a link.
 */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class ClientPages
{
    public const CALLS_PATH = '/whmcs/client/calls';
    public const CALLS_CSV_PATH = '/whmcs/client/calls.csv';
    public const PHONES_PATH = '/whmcs/client/phones';
    public const PAGE_SIZE = 25;

    /** Calls per page; ICTVOIP_CALLS_PAGE_SIZE (1-100) in WHMCS's configuration.php changes it. */
    public static function pageSize(): int
    {
        $size = defined('ICTVOIP_CALLS_PAGE_SIZE') ? (int) constant('ICTVOIP_CALLS_PAGE_SIZE') : self::PAGE_SIZE;
        return max(1, min(100, $size));
    }

    /** Template variables of templates/clientarea.tpl. */
    public static function overview(array $params, array $request): array
    {
        $lang = Lang::strings($params);
        $serviceId = (int) ($params['serviceid'] ?? 0);
        $selection = self::selection($request);
        [$status, $statusError] = Module::read('ClientArea', 'client', $params);
        $variables = [
            'ictvoip' => array_merge(['usage' => null, 'registrations' => []], is_array($status['templateVariables'] ?? null) ? $status['templateVariables'] : []),
            'ictvoipUnavailable' => $statusError !== null,
            'ictvoipLang' => $lang,
            'ictvoipCalls' => null,
            'ictvoipCallsUnavailable' => false,
            'ictvoipPhones' => null,
            'ictvoipPhonesUnavailable' => false,
            'ictvoipSearch' => $selection['number'],
            'ictvoipSearchInvalid' => $selection['numberInvalid'],
            'ictvoipPortalUrl' => '',
            'ictvoipServiceId' => $serviceId,
            'ictvoipLinks' => ['base' => self::baseLink($serviceId)],
        ];
        $secrets = ModuleLog::secrets($params);
        try {
            $endpoint = BridgeEndpoint::fromParams($params);
        } catch (ModuleInputError $error) {
            ModuleLog::record('ClientArea', [], '', ModuleLog::scrub($error->getMessage(), $secrets), $secrets);
            $variables['ictvoipCallsUnavailable'] = true;
            $variables['ictvoipPhonesUnavailable'] = true;
            return $variables;
        }
        $body = ['serviceId' => $serviceId, 'limit' => self::pageSize()];
        foreach (['period', 'number', 'cursor'] as $key) {
            if ($selection[$key] !== '') {
                $body[$key] = $selection[$key];
            }
        }
        [$calls, $callsError] = PageClient::read($endpoint, self::CALLS_PATH, $body);
        ModuleLog::record('ClientAreaCalls', ['path' => self::CALLS_PATH, 'body' => $body], $callsError ?? 'ok', $callsError ?? 'success', $secrets);
        [$phones, $phonesError] = PageClient::read($endpoint, self::PHONES_PATH, ['serviceId' => $serviceId]);
        ModuleLog::record('ClientAreaPhones', ['path' => self::PHONES_PATH], $phonesError ?? 'ok', $phonesError ?? 'success', $secrets);
        $variables['ictvoipCallsUnavailable'] = $callsError !== null;
        $variables['ictvoipPhonesUnavailable'] = $phonesError !== null;
        if ($calls !== null) {
            $variables['ictvoipCalls'] = self::callsView($calls, $lang);
            $variables['ictvoipLinks'] += self::callLinks($serviceId, $calls);
            $variables['ictvoipPortalUrl'] = self::safeUrl($calls['portalUrl'] ?? '');
        }
        if ($phones !== null) {
            $variables['ictvoipPhones'] = self::phonesView($phones);
            $variables['ictvoipPortalUrl'] = self::safeUrl($phones['portalUrl'] ?? '') ?: $variables['ictvoipPortalUrl'];
        }
        return $variables;
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
        $period = is_string($request['period'] ?? null) && preg_match('/^\d{4}-(0[1-9]|1[0-2])$/', $request['period']) ? $request['period'] : '';
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
            'timeZone' => (string) ($calls['timeZone'] ?? 'UTC'),
            'rows' => $rows,
            'ratedCalls' => (int) ($totals['ratedCalls'] ?? 0),
            'unratedCalls' => (int) ($totals['unratedCalls'] ?? 0),
            'amount' => self::amountText((string) ($totals['amount'] ?? '0')),
            'paged' => is_string($calls['nextCursor'] ?? null) || !empty($calls['cursor']),
        ];
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
