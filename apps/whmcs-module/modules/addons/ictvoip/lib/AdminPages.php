<?php
/**
 * The addon's pages: each builds its template variables from one bridge read, and the operator's
 * actions (retry a failed job, preview and import a rate deck) are POSTs. The bridge audits every
 * read and every action with the WHMCS admin's user name. Request values are checked here before they reach the bridge.
 */

namespace WHMCS\Module\Addon\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class AdminPages
{
    public const PAGES = ['dashboard', 'ratedecks', 'batches', 'credit', 'servers'];
    /** A pasted or uploaded deck; the bridge refuses bigger bodies anyway (8 MB). */
    public const MAX_DECK_BYTES = 7000000;

    /**
     * @param array $vars what WHMCS passes to _output (modulelink, _lang, the addon's settings)
     * @return array{template: string, vars: array}
     */
    public static function handle(array $vars, array $get, array $post, array $files, string $adminName): array
    {
        $page = in_array($get['page'] ?? '', self::PAGES, true) ? $get['page'] : 'dashboard';
        $lang = is_array($vars['_lang'] ?? null) ? $vars['_lang'] : [];
        $view = [
            'page' => $page,
            'modulelink' => (string) ($vars['modulelink'] ?? 'addonmodules.php?module=ictvoip'),
            'lang' => $lang,
            'pages' => self::PAGES,
            'csrfToken' => function_exists('generate_token') ? (string) generate_token('plain') : '',
            'notice' => null,
            'error' => null,
            // Every variable any page template reads, so a page cut short by an error still renders.
            'dashboard' => null,
            'lostCount' => 0,
            'decks' => [],
            'deck' => null,
            'deckMarkup' => '',
            'prefix' => '',
            'form' => self::deckForm([]),
            'preview' => null,
            'previewSummary' => '',
            'importWarnings' => null,
            'batches' => [],
            'periods' => [],
            'period' => '',
            'servers' => [],
            'cdrSync' => [],
            'registrations' => ['lostNow' => [], 'history' => []],
            'credit' => [],
        ];
        try {
            $client = AdminClient::fromVars($vars, $adminName);
            if (($_SERVER['REQUEST_METHOD'] ?? 'GET') === 'POST' && isset($post['do'])) {
                self::checkCsrf();
                $view = array_merge($view, self::act($client, (string) $post['do'], $post, $files, $lang));
            }
            $view = array_merge($view, self::read($client, $page, $get, $view));
        } catch (AdminPageError $error) {
            $view['error'] = ['kind' => $error->kind, 'message' => $error->getMessage(), 'details' => $error->details];
        }
        return ['template' => $page, 'vars' => $view];
    }

    private static function checkCsrf(): void
    {
        // WHMCS admin forms carry a token; check_token() stops the request itself when it does not match.
        if (function_exists('check_token')) {
            check_token('WHMCS.admin.default');
        }
    }

    /** @throws AdminPageError */
    private static function read(AdminClient $client, string $page, array $get, array $view): array
    {
        switch ($page) {
            case 'ratedecks':
                $decks = Shape::fit($client->get('/admin/pages/rate-decks'), ['decks' => Shape::listOf(self::STORED_DECK)]);
                $shown = is_string($get['deck'] ?? null) && preg_match('/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/', $get['deck']) ? $get['deck'] : '';
                $prefix = is_string($get['prefix'] ?? null) && preg_match('/^[0-9]{1,15}$/', $get['prefix']) ? $get['prefix'] : '';
                $deck = $shown === '' ? null : Shape::fit($client->get('/admin/pages/rate-decks/' . rawurlencode($shown), $prefix === '' ? [] : ['prefix' => $prefix]), self::shownDeck());
                return ['decks' => $decks['decks'], 'deck' => $deck, 'deckMarkup' => self::markupText($deck, (array) ($view['lang'] ?? [])), 'prefix' => $prefix];
            case 'batches':
                $period = is_string($get['period'] ?? null) && preg_match('/^\d{4}-(0[1-9]|1[0-2])$/', $get['period']) ? $get['period'] : '';
                $batches = $client->get('/admin/pages/billing/batches', $period === '' ? [] : ['period' => $period]);
                $rows = [];
                // Rows as the bridge answers them; anything else (another version, a proxy's JSON) is left out, never a PHP error.
                foreach ((array) ($batches['batches'] ?? []) as $batch) {
                    if (!is_array($batch)) {
                        continue;
                    }
                    $batch['invoiceLink'] = isset($batch['whmcsInvoiceId']) && is_int($batch['whmcsInvoiceId']) ? 'invoices.php?action=edit&id=' . $batch['whmcsInvoiceId'] : '';
                    $batch['serviceLink'] = 'clientsservices.php?id=' . (int) ($batch['serviceId'] ?? 0);
                    $rows[] = $batch;
                }
                return ['batches' => $rows, 'periods' => (array) ($batches['periods'] ?? []), 'period' => $period];
            case 'credit':
                $credit = Shape::fit($client->get('/admin/pages/credit'), ['services' => Shape::listOf(self::creditRow())]);
                $rows = [];
                foreach ($credit['services'] as $row) {
                    $row['serviceLink'] = 'clientsservices.php?id=' . (int) $row['serviceId'];
                    $row['clientLink'] = 'clientssummary.php?userid=' . (int) $row['clientId'];
                    $row['modeKey'] = 'creditMode_' . preg_replace('/[^a-z]/', '', (string) $row['mode']);
                    $rows[] = $row;
                }
                return ['credit' => $rows];
            case 'servers':
                $servers = Shape::fit($client->get('/admin/pages/servers'), ['servers' => Shape::listOf(self::serverHealth()), 'cdrSync' => Shape::listOf(self::CDR_SYNC)]);
                $registrations = Shape::fit($client->get('/admin/pages/registrations'), self::registrations());
                return ['servers' => $servers['servers'], 'cdrSync' => $servers['cdrSync'], 'registrations' => $registrations];
            default:
                $dashboard = Shape::fit($client->get('/admin/pages/dashboard'), self::dashboard());
                return ['dashboard' => $dashboard, 'lostCount' => count($dashboard['registrations']['lostNow'])];
        }
    }

    /** @throws AdminPageError */
    private static function act(AdminClient $client, string $action, array $post, array $files, array $lang): array
    {
        switch ($action) {
            case 'retry':
                $reply = $client->post('/admin/pages/jobs/retry', ['queue' => (string) ($post['queue'] ?? ''), 'jobId' => (string) ($post['jobId'] ?? '')]);
                return ['notice' => (string) ($reply['message'] ?? '')];
            case 'deckPreview':
                $form = self::deckForm($post, $files);
                try {
                    $preview = Shape::fit($client->post('/admin/pages/rate-decks/preview', self::deckBody($form)), self::deckPreview());
                    $summary = vsprintf((string) ($lang['previewSummary'] ?? 'revision %s: %s rates (%s added, %s changed, %s unchanged, %s removed)'), [
                        (int) ($preview['revision'] ?? 0), (int) ($preview['entryCount'] ?? 0), (int) ($preview['added'] ?? 0),
                        (int) ($preview['replaced'] ?? 0), (int) ($preview['unchanged'] ?? 0), (int) ($preview['removed'] ?? 0),
                    ]) . self::keptText($preview, $lang);
                    return ['form' => $form, 'preview' => $preview, 'previewSummary' => $summary];
                } catch (AdminPageError $error) {
                    return ['form' => $form, 'error' => ['kind' => $error->kind, 'message' => $error->getMessage(), 'details' => $error->details]];
                }
            case 'deckImport':
                $form = self::deckForm($post, $files);
                try {
                    $reply = $client->post('/admin/pages/rate-decks/import', self::deckBody($form));
                    $notice = sprintf('Deck %s: revision %d, %d rates stored.', $reply['deck'] ?? '', (int) ($reply['revision'] ?? 0), (int) ($reply['entryCount'] ?? 0));
                    // The warnings themselves (skipped lines, unapplied columns), shown under the notice.
                    $warnings = Shape::fit($reply, self::warningsShape());
                    return [
                        'form' => self::deckForm([]),
                        'notice' => $notice . self::keptText(Shape::fit($reply, self::KEPT), $lang),
                        'importWarnings' => $warnings['warnings'] === [] ? null : ['warnings' => $warnings['warnings'], 'moreWarnings' => (int) $warnings['moreWarnings']],
                    ];
                } catch (AdminPageError $error) {
                    return ['form' => $form, 'error' => ['kind' => $error->kind, 'message' => $error->getMessage(), 'details' => $error->details]];
                }
            default:
                throw new AdminPageError('input', 'Unknown action.');
        }
    }

    // What each page's template reads of the bridge's replies (see Shape): the same names as
    // apps/api/src/routes/whmcs-pages/admin-pages.ts answers with.

    private const CDR_SYNC = ['server' => '', 'tenants' => 0, 'lastRunAt' => null, 'newestCdrAt' => null];
    private const LOST_PHONE = ['serviceId' => 0, 'domain' => '', 'extension' => '', 'missingSince' => null];
    // defaultIncrements / columnMapping: what a re-import reuses when its field is left empty (null: none saved).
    private const STORED_DECK = [
        'name' => '', 'currency' => '', 'countryCode' => '', 'revision' => 0, 'entryCount' => 0, 'updatedAt' => null,
        'defaultIncrements' => null, 'columnMapping' => null,
    ];
    private const RATE = ['line' => null, 'prefix' => '', 'destination' => '', 'ratePerMinute' => '', 'connectFee' => '', 'increments' => '', 'effectiveFrom' => null];

    private static function serverHealth(): array
    {
        return ['name' => '', 'database' => '', 'eventSocket' => '', 'databaseOk' => false, 'eventSocketOk' => false, 'errors' => Shape::listOf(''), 'checkedAt' => null];
    }

    private static function registrations(): array
    {
        return [
            'lostNow' => Shape::listOf(self::LOST_PHONE),
            'history' => Shape::listOf(['at' => null, 'serviceId' => 0, 'domain' => '', 'extension' => '', 'transition' => '', 'alertSent' => false]),
        ];
    }

    private static function dashboard(): array
    {
        return [
            'queues' => Shape::listOf(['name' => '', 'counts' => ['waiting' => 0, 'active' => 0, 'delayed' => 0, 'failed' => 0]]),
            'failedJobs' => Shape::listOf(['queue' => '', 'name' => '', 'id' => '', 'attemptsMade' => 0, 'failedReason' => '', 'failedAt' => null]),
            'drift' => Shape::nullable(['checkedAt' => null, 'counts' => Shape::mapOf(0)]),
            'unrated' => ['total' => 0, 'byService' => Shape::listOf(['serviceId' => 0, 'calls' => 0, 'oldest' => null])],
            'cdrSync' => Shape::listOf(self::CDR_SYNC),
            'servers' => Shape::listOf(self::serverHealth()),
            'registrations' => ['lostNow' => Shape::listOf(self::LOST_PHONE)],
        ];
    }

    private static function creditRow(): array
    {
        return [
            'serviceId' => 0, 'clientId' => 0, 'mode' => '', 'state' => '', 'available' => null, 'threshold' => null, 'creditLimit' => null,
            'currency' => '', 'suspendedBy' => null, 'restrictedGateways' => 0, 'pendingAction' => null, 'lastError' => null, 'lastCheckedAt' => null,
            'lastMail' => Shape::nullable(['kind' => '', 'state' => '', 'at' => null]),
        ];
    }

    private static function shownDeck(): array
    {
        // ratePerMinute / connectFee: what the customer is billed (the deck's markup applied); base*: the deck's own rates.
        return [
            'name' => '', 'currency' => '', 'revision' => 0, 'entryCount' => 0,
            'markup' => ['percent' => '', 'fixedPerMinute' => '', 'fixedPerCall' => ''],
            'entries' => Shape::listOf(self::RATE + ['baseRatePerMinute' => '', 'baseConnectFee' => '']),
        ];
    }

    /** What the billed prices of the shown deck are made of, so the page and `rates show` read alike. */
    private static function markupText(?array $deck, array $lang): string
    {
        if ($deck === null) {
            return '';
        }
        $markup = (array) $deck['markup'];
        if (($markup['percent'] ?? '') === '') {
            return ''; // a bridge that does not say its markup: no claim about it
        }
        return vsprintf((string) ($lang['deckMarkup'] ?? 'Billed = base + the deck\'s markup: %1$s %%, +%2$s %4$s per minute, +%3$s %4$s per call.'), [
            $markup['percent'] ?? '', $markup['fixedPerMinute'] ?? '', $markup['fixedPerCall'] ?? '', $deck['currency'] ?? '',
        ]);
    }

    private const KEPT = ['keptEarlier' => 0, 'keptUntil' => null];
    private const ISSUE = ['line' => null, 'column' => null, 'message' => ''];

    private static function warningsShape(): array
    {
        return ['warnings' => Shape::listOf(self::ISSUE), 'moreWarnings' => 0];
    }

    /** A deck whose file starts later keeps the stored rates until then: the page says how many and until when. */
    private static function keptText(array $reply, array $lang): string
    {
        $kept = (int) ($reply['keptEarlier'] ?? 0);
        if ($kept === 0 || !is_string($reply['keptUntil'] ?? null)) {
            return '';
        }
        return ' ' . sprintf((string) ($lang['keptEarlier'] ?? '%s earlier rates stay in force until %s, when the file\'s rates start.'), $kept, $reply['keptUntil']);
    }

    private static function deckPreview(): array
    {
        return [
            'ok' => false, 'revision' => 0, 'entryCount' => 0, 'added' => 0, 'replaced' => 0, 'unchanged' => 0, 'removed' => 0,
            'keptEarlier' => 0, 'keptUntil' => null,
            'firstLines' => Shape::listOf(''),
            'firstRates' => Shape::listOf(self::RATE),
            'issues' => Shape::listOf(self::ISSUE),
            'moreIssues' => 0,
        ] + self::warningsShape();
    }

    /** The deck form as typed; an uploaded file wins over the pasted text. */
    private static function deckForm(array $post, array $files = []): array
    {
        $csv = (string) ($post['csv'] ?? '');
        $upload = $files['csvFile'] ?? null;
        if (is_array($upload) && ($upload['error'] ?? UPLOAD_ERR_NO_FILE) === UPLOAD_ERR_OK && is_uploaded_file((string) $upload['tmp_name'])) {
            $csv = self::utf8((string) file_get_contents((string) $upload['tmp_name'], false, null, 0, self::MAX_DECK_BYTES));
        }
        return [
            'name' => trim((string) ($post['name'] ?? '')),
            'currency' => strtoupper(trim((string) ($post['currency'] ?? ''))),
            'countryCode' => trim((string) ($post['countryCode'] ?? '')),
            // Empty by default: the bridge takes the deck's own, or its country's (1 for country code 1, else 0).
            'nationalPrefix' => trim((string) ($post['nationalPrefix'] ?? '')),
            // As `rates import --default-increments`: what the sheet's 0 increments mean (ASTPP's template writes 0); the bridge checks it.
            'defaultIncrements' => trim((string) ($post['defaultIncrements'] ?? '')),
            // As `rates import --map`: prefix=Code,rate=Charge; saved with the deck by the bridge.
            'columnMapping' => trim((string) ($post['columnMapping'] ?? '')),
            'csv' => substr($csv, 0, self::MAX_DECK_BYTES),
        ];
    }

    /**
     * An uploaded file as UTF-8: Excel's "Unicode text" is UTF-16 with a byte order mark, which the
     * JSON to the bridge would otherwise carry as mangled bytes. Without a mark the bytes go as they
     * are (the bridge names a UTF-16 file read as another encoding).
     */
    private static function utf8(string $bytes): string
    {
        $boms = ["\xFF\xFE" => 'UTF-16LE', "\xFE\xFF" => 'UTF-16BE'];
        foreach ($boms as $bom => $encoding) {
            if (str_starts_with($bytes, $bom)) {
                // A file cut at MAX_DECK_BYTES may end inside a character: its last whole one is kept, no PHP notice on the page.
                $units = substr($bytes, 2, (strlen($bytes) - 2) & ~1);
                $text = @iconv($encoding, 'UTF-8', $units);
                return $text === false ? $bytes : $text;
            }
        }
        return $bytes;
    }

    /**
     * A prefilled "0" was sent for NANP decks too, where "1 204 555 0100" then became +1 1204…: the
     * field left empty is left out (the bridge decides), "none" states a country without a trunk prefix.
     */
    private static function deckBody(array $form): array
    {
        $prefix = strtolower((string) $form['nationalPrefix']);
        unset($form['nationalPrefix']);
        // Left empty: left out (the deck's saved increments; its saved mapping when the file fits it). "none" goes as typed: the bridge clears the saved one.
        foreach (['defaultIncrements', 'columnMapping'] as $optional) {
            if ($form[$optional] === '') {
                unset($form[$optional]);
            }
        }
        if ($prefix === 'none') {
            $form['nationalPrefix'] = '';
        } elseif ($prefix !== '') {
            $form['nationalPrefix'] = $prefix;
        }
        return $form;
    }
}
