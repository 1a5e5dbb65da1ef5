<?php
/**
 * ictVoIP client area texts (WHMCS language file format). Copy to lang/<language>.php (e.g. german.php)
 * and translate the values; the module picks the client's language and falls back to english.
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

$_LANG['unavailable'] = 'Live telephony details are temporarily unavailable. Please try again later.';
$_LANG['usageTitle'] = 'Usage this period';
$_LANG['minutesUsed'] = 'Minutes used';
$_LANG['includedMinutes'] = 'Included minutes';
$_LANG['calls'] = 'Calls';
$_LANG['chargesSoFar'] = 'Charges so far';
$_LANG['callsTitle'] = 'Calls';
$_LANG['period'] = 'Billing period';
$_LANG['searchNumber'] = 'Search by number';
$_LANG['search'] = 'Search';
$_LANG['clearSearch'] = 'Show all';
$_LANG['downloadCsv'] = 'Download CSV';
$_LANG['date'] = 'Date';
$_LANG['from'] = 'From';
$_LANG['to'] = 'To';
$_LANG['duration'] = 'Duration';
$_LANG['amount'] = 'Amount';
$_LANG['notBillable'] = 'not billable';
$_LANG['unrated'] = 'unrated';
$_LANG['pending'] = 'not rated yet';
$_LANG['noCalls'] = 'No calls in this period.';
$_LANG['olderCalls'] = 'Older calls';
$_LANG['firstPage'] = 'Newest calls';
$_LANG['periodTotal'] = 'Rated calls this period';
$_LANG['unratedCalls'] = 'calls not rated';
$_LANG['phonesTitle'] = 'Phones';
$_LANG['extension'] = 'Extension';
$_LANG['name'] = 'Name';
$_LANG['state'] = 'State';
$_LANG['device'] = 'Device';
$_LANG['since'] = 'Since';
$_LANG['registered'] = 'registered';
$_LANG['notRegistered'] = 'not registered';
$_LANG['lost'] = 'registration lost';
$_LANG['disabled'] = 'disabled';
$_LANG['noPhones'] = 'No phones yet.';
$_LANG['openPortal'] = 'Open PBX portal';
$_LANG['searchInvalid'] = 'Enter digits only (and +, * or #) to search by number.';
$_LANG['downloadFailed'] = 'The call list could not be downloaded right now. Please try again later.';
