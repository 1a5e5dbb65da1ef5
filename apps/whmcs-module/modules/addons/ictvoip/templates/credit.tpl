{include file='_layout_top.tpl'}
<h3>{$lang.creditTitle|escape}</h3>
{if $credit}
<table class="table table-striped table-condensed table-sm" id="ictvoip-credit">
    <thead><tr><th>{$lang.service|escape}</th><th>{$lang.client|escape}</th><th>{$lang.creditMode|escape}</th><th>{$lang.state|escape}</th><th class="text-right">{$lang.creditAvailable|escape}</th><th class="text-right">{$lang.creditThreshold|escape}</th><th class="text-right">{$lang.creditLimit|escape}</th><th>{$lang.creditLastCheck|escape}</th><th>{$lang.creditLastMail|escape}</th><th>{$lang.lastError|escape}</th></tr></thead>
    <tbody>
    {foreach $credit as $row}
        <tr>
            <td><a href="{$row.serviceLink|escape}">#{$row.serviceId|escape}</a></td>
            <td><a href="{$row.clientLink|escape}">#{$row.clientId|escape}</a></td>
            <td>{if $row.mode}{$lang[$row.modeKey]|default:$row.mode|escape}{else}&mdash;{/if}</td>
            <td><span class="label badge {if $row.state == 'zero'}label-danger badge-danger{elseif $row.state == 'low'}label-warning badge-warning{else}label-success badge-success{/if}">{$row.state|escape}</span>{if $row.pendingAction} <small class="text-muted">({$lang.pending|escape}: {$row.pendingAction|escape})</small>{/if}{if $row.suspendedBy == 'bridge' || $row.restrictedGateways} <small class="text-danger">{$lang.creditRestricted|escape}</small>{/if}</td>
            <td class="text-right">{if $row.available !== null}{$row.available|escape} {$row.currency|escape}{else}<span class="text-muted">{$lang.unknown|escape}</span>{/if}</td>
            <td class="text-right">{$row.threshold|escape} {$row.currency|escape}</td>
            <td class="text-right">{if $row.creditLimit !== null}{$row.creditLimit|escape} {$row.currency|escape}{else}<span class="text-muted">{$lang.creditPrepaid|escape}</span>{/if}</td>
            <td>{$row.lastCheckedAt|escape}</td>
            <td>{if $row.lastMail}{$row.lastMail.kind|escape} &middot; {$row.lastMail.state|escape}<br><small class="text-muted">{$row.lastMail.at|escape}</small>{else}&mdash;{/if}</td>
            <td>{$row.lastError|escape}</td>
        </tr>
    {/foreach}
    </tbody>
</table>
{else}<p>{$lang.noCredit|escape}</p>{/if}
{include file='_layout_bottom.tpl'}
