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
$_LANG['adjustments'] = 'Adjustments and credits';
$_LANG['billTotal'] = 'Bill total';
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
$_LANG['minutesLeft'] = 'minutes left';
$_LANG['creditTitle'] = 'Prepaid credit';
$_LANG['credit_ok'] = 'Credit available';
$_LANG['credit_low'] = 'Credit is running low';
$_LANG['credit_zero'] = 'No credit left';
$_LANG['creditAvailable'] = 'Available';
$_LANG['creditThreshold'] = 'Reminder when available credit falls below';
$_LANG['creditLimit'] = 'Credit limit';
$_LANG['creditOutboundBlocked'] = 'Outgoing calls are blocked until credit is added.';
$_LANG['creditSuspended'] = 'The service is suspended until credit is added.';
$_LANG['creditLastMail'] = 'Last reminder';
$_LANG['creditMail_low'] = 'low credit';
$_LANG['creditMail_zero'] = 'no credit left';
$_LANG['voicemail'] = 'Voicemail';
$_LANG['voicemailNew'] = 'new';
$_LANG['voicemailSaved'] = 'saved';
$_LANG['numbersTitle'] = 'Numbers';
$_LANG['number'] = 'Number';
$_LANG['ringsAt'] = 'Rings at';
$_LANG['description'] = 'Description';
$_LANG['notRouted'] = 'not routed';
$_LANG['noNumbers'] = 'No numbers yet.';
$_LANG['resetButton'] = 'Reset SIP password';
$_LANG['resetTitle'] = 'Reset a phone\'s SIP password';
$_LANG['resetExplain'] = 'The phone keeps working until it registers again; then it needs the new password. A phone the PBX provisions gets it at its next provisioning; otherwise enter it in the phone right away.';
$_LANG['resetDone'] = 'New SIP password for extension';
$_LANG['resetShownOnce'] = 'This password is shown only now: copy it into the phone. It cannot be shown again; reset again if it is lost.';
$_LANG['resetPending'] = 'The PBX is applying it; it works within a minute.';
$_LANG['resetTooMany'] = 'Too many password resets for this service in the last hour. Please try again later.';
$_LANG['resetUnknown'] = 'This phone does not exist (any more).';
$_LANG['resetNotActive'] = 'Passwords cannot be reset while the service is not active.';
$_LANG['resetFailed'] = 'The password could not be reset right now. Please try again later.';
$_LANG['backToService'] = 'Back to the service';
