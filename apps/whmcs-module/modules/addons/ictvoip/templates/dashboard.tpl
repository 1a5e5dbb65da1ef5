{include file='_layout_top.tpl'}
{if $dashboard}
<div class="row">
<div class="col-md-6">
    <h3>{$lang.queues|escape}</h3>
    <table class="table table-condensed table-sm" id="ictvoip-queues">
        <thead><tr><th>{$lang.queue|escape}</th><th>{$lang.waiting|escape}</th><th>{$lang.active|escape}</th><th>{$lang.delayed|escape}</th><th>{$lang.failed|escape}</th></tr></thead>
        <tbody>
        {foreach $dashboard.queues as $queue}
            <tr><td>{$queue.name|escape}</td><td>{$queue.counts.waiting|escape}</td><td>{$queue.counts.active|escape}</td><td>{$queue.counts.delayed|escape}</td><td>{if $queue.counts.failed}<span class="label label-danger badge badge-danger">{$queue.counts.failed|escape}</span>{else}0{/if}</td></tr>
        {/foreach}
        </tbody>
    </table>
</div>
<div class="col-md-6">
    <h3>{$lang.drift|escape}</h3>
    {if $dashboard.drift}
    <p>{$lang.checkedAt|escape}: {$dashboard.drift.checkedAt|escape}</p>
    <table class="table table-condensed table-sm" id="ictvoip-drift">
        {foreach $dashboard.drift.counts as $kind => $count}<tr><td>{$kind|escape}</td><td>{$count|escape}</td></tr>{/foreach}
    </table>
    {else}<p>{$lang.noDrift|escape}</p>{/if}
    <h3>{$lang.unratedCalls|escape}: {$dashboard.unrated.total|escape}</h3>
    {if $dashboard.unrated.byService}
    <table class="table table-condensed table-sm" id="ictvoip-unrated">
        <thead><tr><th>{$lang.service|escape}</th><th>{$lang.calls|escape}</th><th>{$lang.oldest|escape}</th></tr></thead>
        {foreach $dashboard.unrated.byService as $row}<tr><td><a href="clientsservices.php?id={$row.serviceId|escape:'url'}">#{$row.serviceId|escape}</a></td><td>{$row.calls|escape}</td><td>{$row.oldest|escape}</td></tr>{/foreach}
    </table>
    {/if}
</div>
</div>

<h3>{$lang.failedJobs|escape}</h3>
{if $dashboard.failedJobs}
<table class="table table-striped table-condensed table-sm" id="ictvoip-failed-jobs">
    <thead><tr><th>{$lang.queue|escape}</th><th>{$lang.job|escape}</th><th>{$lang.attempts|escape}</th><th>{$lang.reason|escape}</th><th>{$lang.when|escape}</th><th></th></tr></thead>
    <tbody>
    {foreach $dashboard.failedJobs as $job}
        <tr>
            <td>{$job.queue|escape}</td>
            <td>{$job.name|escape}<br><small class="text-muted">{$job.id|escape}</small></td>
            <td>{$job.attemptsMade|escape}</td>
            <td>{$job.failedReason|escape}</td>
            <td>{$job.failedAt|escape}</td>
            <td>
                <form method="post" action="{$modulelink|escape}&amp;page=dashboard">
                    <input type="hidden" name="token" value="{$csrfToken|escape}">
                    <input type="hidden" name="do" value="retry">
                    <input type="hidden" name="queue" value="{$job.queue|escape}">
                    <input type="hidden" name="jobId" value="{$job.id|escape}">
                    <button type="submit" class="btn btn-default btn-sm btn-retry">{$lang.retry|escape}</button>
                </form>
            </td>
        </tr>
    {/foreach}
    </tbody>
</table>
{else}<p>{$lang.noFailedJobs|escape}</p>{/if}

<div class="row">
<div class="col-md-6">
    <h3>{$lang.cdrSync|escape}</h3>
    <table class="table table-condensed table-sm" id="ictvoip-cdr-sync">
        <thead><tr><th>{$lang.server|escape}</th><th>{$lang.tenants|escape}</th><th>{$lang.lastRun|escape}</th><th>{$lang.newestCdr|escape}</th></tr></thead>
        {foreach $dashboard.cdrSync as $sync}<tr><td>{$sync.server|escape}</td><td>{$sync.tenants|escape}</td><td>{if $sync.lastRunAt}{$sync.lastRunAt|escape}{else}{$lang.neverSynced|escape}{/if}</td><td>{$sync.newestCdrAt|escape}</td></tr>{foreachelse}<tr><td colspan="4">{$lang.none|escape}</td></tr>{/foreach}
    </table>
</div>
<div class="col-md-6">
    <h3>{$lang.health|escape}</h3>
    <table class="table table-condensed table-sm" id="ictvoip-health">
        <thead><tr><th>{$lang.server|escape}</th><th>{$lang.database|escape}</th><th>{$lang.eventSocket|escape}</th></tr></thead>
        {foreach $dashboard.servers as $server}
        <tr><td>{$server.name|escape}{if $server.checkedAt}<br><small class="text-muted">{$lang.healthCheckedAt|escape} {$server.checkedAt|escape}</small>{/if}</td><td>{if $server.databaseOk}{$lang.ok|escape}{else}<span class="text-danger">{$lang.down|escape}</span>{/if}</td><td>{if $server.eventSocketOk}{$lang.ok|escape}{else}<span class="text-danger">{$lang.down|escape}</span>{/if}</td></tr>
        {if $server.errors}<tr><td colspan="3"><small class="text-muted">{foreach $server.errors as $problem}{$problem|escape} {/foreach}</small></td></tr>{/if}
        {/foreach}
    </table>
    <h3>{$lang.registrationAlerts|escape}: {$lostCount|escape}</h3>
</div>
</div>
{/if}
{include file='_layout_bottom.tpl'}
