{* ictVoIP: this period's usage and current registrations, from the bridge's `status` reply (templateVariables). *}
<div class="ictvoip-overview">
{if $ictvoipUnavailable}
    <div class="alert alert-info">Live telephony details are temporarily unavailable. Please try again later.</div>
{else}
    {if $ictvoip.usage}
    <h4>Usage this period{if $ictvoip.usage.periodStart} ({$ictvoip.usage.periodStart|escape} &ndash; {$ictvoip.usage.periodEnd|escape}){/if}</h4>
    <table class="table table-condensed">
        <tr><td>Minutes used</td><td>{$ictvoip.usage.minutes|escape}</td></tr>
        {if isset($ictvoip.usage.includedMinutes)}<tr><td>Included minutes</td><td>{$ictvoip.usage.includedMinutes|escape}</td></tr>{/if}
        {if isset($ictvoip.usage.calls)}<tr><td>Calls</td><td>{$ictvoip.usage.calls|escape}</td></tr>{/if}
        {if isset($ictvoip.usage.amount)}<tr><td>Charges so far</td><td>{$ictvoip.usage.amount|escape} {$ictvoip.usage.currency|escape}</td></tr>{/if}
    </table>
    {/if}
    <h4>Registered phones</h4>
    {if $ictvoip.registrations}
    <table class="table table-condensed">
        <thead><tr><th>Extension</th><th>Device</th><th>Address</th><th>Status</th></tr></thead>
        <tbody>
        {foreach $ictvoip.registrations as $registration}
            <tr>
                <td>{$registration.extension|escape}</td>
                <td>{$registration.userAgent|escape}</td>
                <td>{$registration.address|escape}</td>
                <td>{$registration.status|escape}</td>
            </tr>
        {/foreach}
        </tbody>
    </table>
    {else}
    <p>No phones are registered right now.</p>
    {/if}
{/if}
</div>
