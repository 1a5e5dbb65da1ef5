{include file='_layout_top.tpl'}
<h3>{$lang.servers|escape}</h3>
<table class="table table-condensed table-sm" id="ictvoip-servers">
    <thead><tr><th>{$lang.server|escape}</th><th>{$lang.database|escape}</th><th>{$lang.eventSocket|escape}</th><th>{$lang.health|escape}</th></tr></thead>
    {foreach $servers as $server}
    <tr><td>{$server.name|escape}</td><td>{$server.database|escape}</td><td>{$server.eventSocket|escape}</td>
        <td>{if $server.databaseOk && $server.eventSocketOk}<span class="label label-success badge badge-success">{$lang.ok|escape}</span>{else}<span class="label label-danger badge badge-danger">{$lang.down|escape}</span> <small>{foreach $server.errors as $problem}{$problem|escape} {/foreach}</small>{/if}</td></tr>
    {/foreach}
</table>
<h3>{$lang.cdrSync|escape}</h3>
<table class="table table-condensed table-sm" id="ictvoip-cdr-sync">
    <thead><tr><th>{$lang.server|escape}</th><th>{$lang.tenants|escape}</th><th>{$lang.lastRun|escape}</th><th>{$lang.newestCdr|escape}</th></tr></thead>
    {foreach $cdrSync as $sync}<tr><td>{$sync.server|escape}</td><td>{$sync.tenants|escape}</td><td>{if $sync.lastRunAt}{$sync.lastRunAt|escape}{else}{$lang.neverSynced|escape}{/if}</td><td>{$sync.newestCdrAt|escape}</td></tr>{foreachelse}<tr><td colspan="4">{$lang.none|escape}</td></tr>{/foreach}
</table>
<h3>{$lang.registrationAlerts|escape}</h3>
<h4>{$lang.lostNow|escape}</h4>
<table class="table table-condensed table-sm" id="ictvoip-lost">
    <thead><tr><th>{$lang.service|escape}</th><th>{$lang.domain|escape}</th><th>{$lang.extension|escape}</th><th>{$lang.missingSince|escape}</th></tr></thead>
    {foreach $registrations.lostNow as $lost}<tr><td>#{$lost.serviceId|escape}</td><td>{$lost.domain|escape}</td><td>{$lost.extension|escape}</td><td>{$lost.missingSince|escape}</td></tr>{foreachelse}<tr><td colspan="4">{$lang.none|escape}</td></tr>{/foreach}
</table>
<h4>{$lang.recentTransitions|escape}</h4>
<table class="table table-condensed table-sm" id="ictvoip-transitions">
    <thead><tr><th>{$lang.when|escape}</th><th>{$lang.service|escape}</th><th>{$lang.domain|escape}</th><th>{$lang.extension|escape}</th><th>{$lang.transition|escape}</th><th>{$lang.alertSent|escape}</th></tr></thead>
    {foreach $registrations.history as $entry}<tr><td>{$entry.at|escape}</td><td>#{$entry.serviceId|escape}</td><td>{$entry.domain|escape}</td><td>{$entry.extension|escape}</td><td>{$entry.transition|escape}</td><td>{if $entry.alertSent}&#10003;{else}&mdash;{/if}</td></tr>{foreachelse}<tr><td colspan="6">{$lang.none|escape}</td></tr>{/foreach}
</table>
{include file='_layout_bottom.tpl'}
