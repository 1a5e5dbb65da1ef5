{* ictVoIP "Reset SIP password" (custom button): choose a phone; the new password is shown on this page once. Every value is escaped. *}
{assign var=L value=$ictvoipLang}
<div class="ictvoip-reset" id="ictvoip-reset">
    <h4>{$L.resetTitle|escape}</h4>
{if $ictvoipReset}
    <div class="alert alert-success" id="ictvoip-reset-done">
        <p>{$L.resetDone|escape} <strong>{$ictvoipReset.extension|escape}</strong>:</p>
        <p><code id="ictvoip-new-password" class="user-select-all" style="font-size:1.2em">{$ictvoipReset.password|escape}</code></p>
        <p class="mb-0 small">{$L.resetShownOnce|escape}{if $ictvoipReset.pending} {$L.resetPending|escape}{/if}</p>
    </div>
{else}
    {if $ictvoipResetError}<div class="alert alert-danger" id="ictvoip-reset-error">{$ictvoipResetError|escape}</div>{/if}
    {if $ictvoipExtensions}
    <p>{$L.resetExplain|escape}</p>
    <form method="post" action="{$ictvoipLinks.reset|escape}" class="form-inline" id="ictvoip-reset-choose">
        {if isset($token)}<input type="hidden" name="token" value="{$token|escape}">{/if}
        <label class="mr-2" for="ictvoip-reset-extension">{$L.extension|escape}</label>
        <select class="form-control input-sm mr-2" name="extension" id="ictvoip-reset-extension">
        {foreach $ictvoipExtensions as $phone}
            <option value="{$phone.extension|escape}"{if $phone.selected} selected{/if}>{$phone.extension|escape}{if $phone.name} &ndash; {$phone.name|escape}{/if}</option>
        {/foreach}
        </select>
        <button type="submit" class="btn btn-danger btn-sm">{$L.resetButton|escape}</button>
    </form>
    {/if}
{/if}
    <p class="mt-3"><a class="btn btn-link btn-sm" href="{$ictvoipLinks.base|escape}">&larr; {$L.backToService|escape}</a></p>
</div>
