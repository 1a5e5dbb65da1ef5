{* ictVoIP client area: usage, credit, the selected period's calls, phones, numbers. Every value is escaped; texts come from lang/<language>.php. *}
{assign var=L value=$ictvoipLang}
<div class="ictvoip-overview" id="ictvoip">
{if $ictvoipPortalUrl}
    <p class="text-right"><a class="btn btn-default btn-secondary btn-sm" id="ictvoip-portal" href="{$ictvoipPortalUrl|escape:'html'}" target="_blank" rel="noopener noreferrer">{$L.openPortal|escape}</a></p>
{/if}
{if $ictvoipUnavailable}
    <div class="alert alert-info">{$L.unavailable|escape}</div>
{elseif $ictvoip.usage}
    <h4>{$L.usageTitle|escape} ({$ictvoip.usage.period|escape})</h4>
    <table class="table table-sm table-condensed" id="ictvoip-usage">
        <tr><td>{$L.minutesUsed|escape}</td><td>{$ictvoip.usage.minutes|escape}{if $ictvoip.usage.includedMinutes !== null} / {$ictvoip.usage.includedMinutes|escape} {$L.includedMinutes|escape|lower} &middot; {$ictvoip.usage.minutesLeft|escape} {$L.minutesLeft|escape}{/if}</td></tr>
        {if $ictvoip.usage.percentUsed !== null}
        <tr><td colspan="2"><div class="progress" style="height:8px" id="ictvoip-included"><div class="progress-bar{if $ictvoip.usage.percentUsed >= 100} bg-danger progress-bar-danger{elseif $ictvoip.usage.percentUsed >= 80} bg-warning progress-bar-warning{/if}" role="progressbar" style="width:{$ictvoip.usage.percentUsed|escape}%" aria-valuenow="{$ictvoip.usage.percentUsed|escape}" aria-valuemin="0" aria-valuemax="100"></div></div></td></tr>
        {/if}
        <tr><td>{$L.calls|escape}</td><td>{$ictvoip.usage.calls|escape}</td></tr>
        <tr><td>{$L.chargesSoFar|escape}</td><td>{$ictvoip.usage.amount|escape} {$ictvoip.usage.currency|escape}</td></tr>
        {if $ictvoip.usage.adjustmentLines}<tr id="ictvoip-adjustments"><td>{$L.adjustments|escape}</td><td>{foreach $ictvoip.usage.adjustmentLines as $line}{if !$line@first}<br>{/if}{$line.amount|escape} {$line.currency|escape}{/foreach}</td></tr>{/if}
        {if $ictvoip.usage.total !== ''}<tr id="ictvoip-bill-total"><td>{$L.billTotal|escape}</td><td>{$ictvoip.usage.total|escape} {$ictvoip.usage.currency|escape}</td></tr>{/if}
    </table>
{/if}
{if $ictvoipCredit}
    <h4>{$L.creditTitle|escape}</h4>
    <div class="alert {if $ictvoipCredit.state == 'zero'}alert-danger{elseif $ictvoipCredit.state == 'low'}alert-warning{else}alert-success{/if}" id="ictvoip-credit">
        <strong>{$L[$ictvoipCredit.stateKey]|escape}</strong>
        {if $ictvoipCredit.available !== ''} &middot; {$L.creditAvailable|escape}: {$ictvoipCredit.available|escape} {$ictvoipCredit.currency|escape}{/if}
        {if $ictvoipCredit.threshold || $ictvoipCredit.creditLimit}<br><small id="ictvoip-credit-thresholds">{if $ictvoipCredit.threshold}{$L.creditThreshold|escape}: {$ictvoipCredit.threshold|escape} {$ictvoipCredit.currency|escape}{/if}{if $ictvoipCredit.threshold && $ictvoipCredit.creditLimit} &middot; {/if}{if $ictvoipCredit.creditLimit}{$L.creditLimit|escape}: {$ictvoipCredit.creditLimit|escape} {$ictvoipCredit.currency|escape}{/if}</small>{/if}
        {if $ictvoipCredit.restricted}<br>{if $ictvoipCredit.mode == 'outbound'}{$L.creditOutboundBlocked|escape}{else}{$L.creditSuspended|escape}{/if}{/if}
        {if $ictvoipCredit.lastMail}<br><small>{$L.creditLastMail|escape}: {$L[$ictvoipCredit.lastMail.textKey]|default:$ictvoipCredit.lastMail.kind|escape} ({$ictvoipCredit.lastMail.at|escape})</small>{/if}
    </div>
{/if}

    <h4>{$L.callsTitle|escape}</h4>
{if $ictvoipCallsUnavailable}
    <div class="alert alert-info">{$L.unavailable|escape}</div>
{elseif $ictvoipCalls}
    <form class="form-inline mb-2" method="get" action="clientarea.php" id="ictvoip-calls-filter">
        <input type="hidden" name="action" value="productdetails">
        <input type="hidden" name="id" value="{$ictvoipServiceId|escape}">
        <label class="mr-2" for="ictvoip-period">{$L.period|escape}</label>
        <select class="form-control input-sm mr-2" name="period" id="ictvoip-period">
        {foreach $ictvoipLinks.periods as $option}
            <option value="{$option.value|escape}"{if $option.selected} selected{/if}>{$option.value|escape}</option>
        {/foreach}
        </select>
        <label class="sr-only" for="ictvoip-number">{$L.searchNumber|escape}</label>
        <input class="form-control input-sm mr-2" type="search" name="number" id="ictvoip-number" value="{$ictvoipSearch|escape}" placeholder="{$L.searchNumber|escape}" pattern="[0-9+*#]*" maxlength="32">
        <button class="btn btn-primary btn-sm mr-2" type="submit">{$L.search|escape}</button>
        {if $ictvoipSearch}<a class="btn btn-link btn-sm" href="{$ictvoipLinks.clearSearch|escape}">{$L.clearSearch|escape}</a>{/if}
        <a class="btn btn-default btn-secondary btn-sm ml-auto" id="ictvoip-csv" href="{$ictvoipLinks.csv|escape}">{$L.downloadCsv|escape}</a>
    </form>
    {if $ictvoipSearchInvalid}<div class="alert alert-warning">{$L.searchInvalid|escape}</div>{/if}
    <p class="text-muted small" id="ictvoip-period-total">{$L.periodTotal|escape}{if $ictvoipCalls.periodStart} ({$ictvoipCalls.periodStart|escape} &ndash; {$ictvoipCalls.periodLastDay|escape}){/if}: {$ictvoipCalls.ratedCalls|escape}, {$ictvoipCalls.amount|escape} {$ictvoipCalls.currency|escape}{if $ictvoipCalls.adjustmentLines} &middot; {$L.adjustments|escape}: {foreach $ictvoipCalls.adjustmentLines as $line}{if !$line@first}, {/if}{$line.amount|escape} {$line.currency|escape}{/foreach}{/if}{if $ictvoipCalls.total !== ''} &middot; {$L.billTotal|escape}: {$ictvoipCalls.total|escape} {$ictvoipCalls.currency|escape}{/if}{if $ictvoipCalls.unratedCalls} &middot; {$ictvoipCalls.unratedCalls|escape} {$L.unratedCalls|escape}{/if} &middot; {$ictvoipCalls.timeZone|escape}</p>
    {if $ictvoipCalls.rows}
    <div class="table-responsive">
    <table class="table table-striped table-sm table-condensed" id="ictvoip-calls">
        <thead><tr><th>{$L.date|escape}</th><th>{$L.from|escape}</th><th>{$L.to|escape}</th><th class="text-right">{$L.duration|escape}</th><th class="text-right">{$L.amount|escape}</th></tr></thead>
        <tbody>
        {foreach $ictvoipCalls.rows as $call}
            <tr>
                <td>{$call.date|escape}</td>
                <td>{$call.from|escape}{if $call.fromName} <span class="text-muted">{$call.fromName|escape}</span>{/if}</td>
                <td>{$call.to|escape}</td>
                <td class="text-right">{$call.duration|escape}</td>
                <td class="text-right">{if $call.rated}{$call.amount|escape}{else}<span class="text-muted" title="{$call.reason|escape}">{$call.statusText|escape}</span> <small class="text-muted">({$call.reason|escape})</small>{/if}</td>
            </tr>
        {/foreach}
        </tbody>
    </table>
    </div>
    <nav class="text-right">
        {if $ictvoipCalls.paged}<a class="btn btn-link btn-sm" href="{$ictvoipLinks.first|escape}">{$L.firstPage|escape}</a>{/if}
        {if $ictvoipLinks.next}<a class="btn btn-default btn-secondary btn-sm" id="ictvoip-next" href="{$ictvoipLinks.next|escape}">{$L.olderCalls|escape} &rarr;</a>{/if}
    </nav>
    {else}
    <p>{$L.noCalls|escape}</p>
    {/if}
{/if}

    <h4>{$L.phonesTitle|escape}</h4>
{if $ictvoipPhonesUnavailable}
    <div class="alert alert-info">{$L.unavailable|escape}</div>
{elseif $ictvoipPhones}
    <table class="table table-sm table-condensed" id="ictvoip-phones">
        <thead><tr><th>{$L.extension|escape}</th><th>{$L.name|escape}</th><th>{$L.state|escape}</th><th>{$L.device|escape}</th><th>{$L.since|escape}</th><th>{$L.voicemail|escape}</th><th></th></tr></thead>
        <tbody>
        {foreach $ictvoipPhones as $phone}
            <tr>
                <td>{$phone.extension|escape}</td>
                <td>{$phone.name|escape}</td>
                <td><span class="label badge {if $phone.state == 'registered'}label-success badge-success{elseif $phone.state == 'lost'}label-danger badge-danger{else}label-default badge-secondary{/if}">{$L[$phone.state]|escape}</span></td>
                <td>{$phone.device|escape}</td>
                <td>{$phone.since|escape}</td>
                <td class="ictvoip-voicemail">{if $phone.voicemail}{if $phone.voicemail.new}<strong>{$phone.voicemail.new|escape} {$L.voicemailNew|escape}</strong>{else}0 {$L.voicemailNew|escape}{/if}, {$phone.voicemail.saved|escape} {$L.voicemailSaved|escape}{else}&mdash;{/if}</td>
                <td class="text-right">
                    <form method="post" action="{$ictvoipLinks.reset|escape}" class="ictvoip-reset-form">
                        {if isset($token)}<input type="hidden" name="token" value="{$token|escape}">{/if}
                        <input type="hidden" name="extension" value="{$phone.extension|escape}">
                        <button type="submit" class="btn btn-default btn-secondary btn-sm">{$L.resetButton|escape}</button>
                    </form>
                </td>
            </tr>
        {/foreach}
        </tbody>
    </table>
{else}
    <p>{$L.noPhones|escape}</p>
{/if}

    <h4>{$L.numbersTitle|escape}</h4>
{if $ictvoipNumbers}
    <table class="table table-sm table-condensed" id="ictvoip-numbers">
        <thead><tr><th>{$L.number|escape}</th><th>{$L.ringsAt|escape}</th><th>{$L.description|escape}</th></tr></thead>
        <tbody>
        {foreach $ictvoipNumbers as $number}
            <tr>
                <td>{$number.number|escape}{if !$number.enabled} <span class="label badge label-default badge-secondary">{$L.disabled|escape}</span>{/if}</td>
                <td>{if $number.destination}{$number.destination|escape}{else}<span class="text-muted">{$L.notRouted|escape}</span>{/if}</td>
                <td>{$number.description|escape}</td>
            </tr>
        {/foreach}
        </tbody>
    </table>
{elseif !$ictvoipUnavailable}
    <p>{$L.noNumbers|escape}</p>
{/if}
</div>
