{include file='_layout_top.tpl'}
<form class="form-inline" method="get" action="addonmodules.php" id="ictvoip-period-form">
    <input type="hidden" name="module" value="ictvoip"><input type="hidden" name="page" value="batches">
    <label for="ictvoip-period">{$lang.period|escape}</label>
    <select class="form-control input-sm" name="period" id="ictvoip-period" onchange="this.form.submit()">
        <option value="">{$lang.allPeriods|escape}</option>
        {foreach $periods as $option}<option value="{$option|escape}"{if $option == $period} selected{/if}>{$option|escape}</option>{/foreach}
    </select>
    <noscript><button class="btn btn-default btn-sm" type="submit">{$lang.filter|escape}</button></noscript>
</form>
{if $batches}
<table class="table table-striped table-condensed table-sm" id="ictvoip-batches">
    <thead><tr><th>{$lang.period|escape}</th><th>{$lang.service|escape}</th><th>{$lang.state|escape}</th><th class="text-right">{$lang.calls|escape}</th><th class="text-right">{$lang.amount|escape}</th><th>{$lang.invoice|escape}</th><th>{$lang.lastError|escape}</th></tr></thead>
    <tbody>
    {foreach $batches as $batch}
        <tr>
            <td>{$batch.period|escape}</td>
            <td><a href="{$batch.serviceLink|escape}">#{$batch.serviceId|escape}</a></td>
            <td><span class="label badge {if $batch.state == 'failed' || $batch.state == 'unknown'}label-danger badge-danger{elseif $batch.state == 'pushed' || $batch.state == 'verified'}label-success badge-success{else}label-default badge-secondary{/if}">{$batch.state|escape}</span></td>
            <td class="text-right">{$batch.callCount|escape}</td>
            <td class="text-right">{$batch.lineAmount|escape} {$batch.currency|escape}</td>
            <td>{if $batch.invoiceLink}<a class="ictvoip-invoice" href="{$batch.invoiceLink|escape}">#{$batch.whmcsInvoiceId|escape}</a>{else}&mdash;{/if}</td>
            <td>{$batch.lastError|escape}</td>
        </tr>
    {/foreach}
    </tbody>
</table>
{else}<p>{$lang.noBatches|escape}</p>{/if}
{include file='_layout_bottom.tpl'}
