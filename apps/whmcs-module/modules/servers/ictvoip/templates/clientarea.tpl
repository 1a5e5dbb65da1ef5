{* ictVoIP client area: usage, the selected period's calls, phones. Every value is escaped; texts come from lang/<language>.php. *}
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
        <tr><td>{$L.minutesUsed|escape}</td><td>{$ictvoip.usage.minutes|escape}{if isset($ictvoip.usage.includedMinutes)} / {$ictvoip.usage.includedMinutes|escape} {$L.includedMinutes|escape|lower}{/if}</td></tr>
        <tr><td>{$L.calls|escape}</td><td>{$ictvoip.usage.calls|escape}</td></tr>
        <tr><td>{$L.chargesSoFar|escape}</td><td>{$ictvoip.usage.amount|escape} {$ictvoip.usage.currency|escape}</td></tr>
    </table>
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
    <p class="text-muted small">{$L.periodTotal|escape}: {$ictvoipCalls.ratedCalls|escape}, {$ictvoipCalls.amount|escape}{if $ictvoipCalls.unratedCalls} &middot; {$ictvoipCalls.unratedCalls|escape} {$L.unratedCalls|escape}{/if} &middot; {$ictvoipCalls.timeZone|escape}</p>
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
        <thead><tr><th>{$L.extension|escape}</th><th>{$L.name|escape}</th><th>{$L.state|escape}</th><th>{$L.device|escape}</th><th>{$L.since|escape}</th></tr></thead>
        <tbody>
        {foreach $ictvoipPhones as $phone}
            <tr>
                <td>{$phone.extension|escape}</td>
                <td>{$phone.name|escape}</td>
                <td><span class="label badge {if $phone.state == 'registered'}label-success badge-success{elseif $phone.state == 'lost'}label-danger badge-danger{else}label-default badge-secondary{/if}">{$L[$phone.state]|escape}</span></td>
                <td>{$phone.device|escape}</td>
                <td>{$phone.since|escape}</td>
            </tr>
        {/foreach}
        </tbody>
    </table>
{else}
    <p>{$L.noPhones|escape}</p>
{/if}
</div>
