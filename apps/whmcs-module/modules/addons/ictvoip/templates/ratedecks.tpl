{include file='_layout_top.tpl'}
<div class="row">
<div class="col-md-6">
<h3>{$lang.importDeck|escape}</h3>
<form method="post" enctype="multipart/form-data" action="{$modulelink|escape}&amp;page=ratedecks" id="ictvoip-deck-form">
    <input type="hidden" name="token" value="{$csrfToken|escape}">
    <div class="form-group"><label for="deck-name">{$lang.deckName|escape}</label><input class="form-control" id="deck-name" name="name" value="{$form.name|escape}" required pattern="[A-Za-z0-9][A-Za-z0-9._\-]{literal}{0,99}{/literal}"></div>
    <div class="form-row row">
        <div class="form-group col-sm-4"><label for="deck-currency">{$lang.currency|escape}</label><input class="form-control" id="deck-currency" name="currency" value="{$form.currency|escape}" required maxlength="3"></div>
        <div class="form-group col-sm-4"><label for="deck-cc">{$lang.countryCode|escape}</label><input class="form-control" id="deck-cc" name="countryCode" value="{$form.countryCode|escape}" required maxlength="3"></div>
        <div class="form-group col-sm-4"><label for="deck-np">{$lang.nationalPrefix|escape}</label><input class="form-control" id="deck-np" name="nationalPrefix" value="{$form.nationalPrefix|escape}" maxlength="4" placeholder="{$lang.nationalPrefixHint|escape}"></div>
    </div>
    <div class="form-row row">
        <div class="form-group col-sm-4"><label for="deck-increments">{$lang.defaultIncrements|escape}</label><input class="form-control" id="deck-increments" name="defaultIncrements" value="{$form.defaultIncrements|escape}" maxlength="20" placeholder="{$lang.defaultIncrementsHint|escape}"></div>
        <div class="form-group col-sm-8"><label for="deck-mapping">{$lang.columnMapping|escape}</label><input class="form-control" id="deck-mapping" name="columnMapping" value="{$form.columnMapping|escape}" maxlength="2000" placeholder="{$lang.columnMappingHint|escape}"></div>
    </div>
    <div class="form-group"><label for="deck-csv">{$lang.csvText|escape}</label><textarea class="form-control" id="deck-csv" name="csv" rows="8" style="font-family:monospace">{$form.csv|escape}</textarea></div>
    <div class="form-group"><label for="deck-file">{$lang.csvFile|escape}</label><input type="file" class="form-control-file" id="deck-file" name="csvFile" accept=".csv,.txt,text/csv,text/plain"></div>
    <button type="submit" name="do" value="deckPreview" class="btn btn-default btn-secondary" id="ictvoip-preview">{$lang.preview|escape}</button>
    <button type="submit" name="do" value="deckImport" class="btn btn-primary" id="ictvoip-import">{$lang.import|escape}</button>
</form>
</div>
<div class="col-md-6">
{if $importWarnings}
    <h4>{$lang.warnings|escape}</h4>
    <table class="table table-condensed table-sm" id="ictvoip-import-warnings">
        <thead><tr><th>{$lang.line|escape}</th><th>{$lang.column|escape}</th><th>{$lang.message|escape}</th></tr></thead>
        {foreach $importWarnings.warnings as $warning}<tr><td>{$warning.line|escape}</td><td>{$warning.column|escape}</td><td>{$warning.message|escape}</td></tr>{/foreach}
    </table>
    {if $importWarnings.moreWarnings}<p>{$lang.andMore|replace:'%s':$importWarnings.moreWarnings|escape}</p>{/if}
{/if}
{if $preview}
    <div id="ictvoip-deck-preview">
    {if $preview.ok}
        <div class="alert alert-info">{$previewSummary|escape}</div>
    {else}
        <div class="alert alert-warning">{$lang.previewInvalid|escape}</div>
    {/if}
    <h4>{$lang.firstLines|escape}</h4>
    <pre id="ictvoip-first-lines">{foreach $preview.firstLines as $line}{$line|escape}
{/foreach}</pre>
    {if $preview.issues}
    <h4>{$lang.problems|escape}</h4>
    <table class="table table-condensed table-sm" id="ictvoip-deck-issues">
        <thead><tr><th>{$lang.line|escape}</th><th>{$lang.column|escape}</th><th>{$lang.message|escape}</th></tr></thead>
        {foreach $preview.issues as $issue}<tr><td>{$issue.line|escape}</td><td>{$issue.column|escape}</td><td>{$issue.message|escape}</td></tr>{/foreach}
    </table>
    {if $preview.moreIssues}<p>{$lang.andMore|replace:'%s':$preview.moreIssues|escape}</p>{/if}
    {/if}
    {if $preview.warnings}
    <h4>{$lang.warnings|escape}</h4>
    <table class="table table-condensed table-sm" id="ictvoip-deck-warnings">
        <thead><tr><th>{$lang.line|escape}</th><th>{$lang.column|escape}</th><th>{$lang.message|escape}</th></tr></thead>
        {foreach $preview.warnings as $warning}<tr><td>{$warning.line|escape}</td><td>{$warning.column|escape}</td><td>{$warning.message|escape}</td></tr>{/foreach}
    </table>
    {if $preview.moreWarnings}<p>{$lang.andMore|replace:'%s':$preview.moreWarnings|escape}</p>{/if}
    {/if}
    {if $preview.firstRates}
    <h4>{$lang.firstRates|escape}</h4>
    <table class="table table-condensed table-sm" id="ictvoip-first-rates">
        <thead><tr><th>{$lang.line|escape}</th><th>{$lang.prefix|escape}</th><th>{$lang.destination|escape}</th><th>{$lang.perMinuteBase|escape}</th><th>{$lang.connectFee|escape}</th><th>{$lang.increments|escape}</th></tr></thead>
        {foreach $preview.firstRates as $rate}<tr><td>{$rate.line|escape}</td><td>{$rate.prefix|escape}</td><td>{$rate.destination|escape}</td><td>{$rate.ratePerMinute|escape}</td><td>{$rate.connectFee|escape}</td><td>{$rate.increments|escape}</td></tr>{/foreach}
    </table>
    {/if}
    </div>
{/if}
</div>
</div>

<h3>{$lang.decks|escape}</h3>
<table class="table table-striped table-condensed table-sm" id="ictvoip-decks">
    <thead><tr><th>{$lang.deckName|escape}</th><th>{$lang.currency|escape}</th><th>{$lang.countryCode|escape}</th><th>{$lang.revision|escape}</th><th>{$lang.rates|escape}</th><th>{$lang.updated|escape}</th><th>{$lang.savedIncrements|escape}</th><th>{$lang.savedMapping|escape}</th><th></th></tr></thead>
    {foreach $decks as $stored}
    <tr><td>{$stored.name|escape}</td><td>{$stored.currency|escape}</td><td>{$stored.countryCode|escape}</td><td>{$stored.revision|escape}</td><td>{$stored.entryCount|escape}</td><td>{$stored.updatedAt|escape}</td><td class="ictvoip-saved-increments">{$stored.defaultIncrements|escape}</td><td class="ictvoip-saved-mapping">{$stored.columnMapping|escape}</td><td><a href="{$modulelink|escape}&amp;page=ratedecks&amp;deck={$stored.name|escape:'url'}">{$lang.show|escape}</a></td></tr>
    {foreachelse}<tr><td colspan="9">{$lang.none|escape}</td></tr>{/foreach}
</table>

{if $deck}
<h3 id="ictvoip-deck-title">{$deck.name|escape} &middot; {$lang.revision|escape} {$deck.revision|escape} &middot; {$deck.entryCount|escape} {$lang.rates|escape|lower}</h3>
<form class="form-inline" method="get" action="addonmodules.php">
    <input type="hidden" name="module" value="ictvoip"><input type="hidden" name="page" value="ratedecks"><input type="hidden" name="deck" value="{$deck.name|escape}">
    <input class="form-control input-sm" name="prefix" value="{$prefix|escape}" placeholder="{$lang.prefix|escape}" pattern="[0-9]*"> <button class="btn btn-default btn-sm" type="submit">{$lang.filter|escape}</button>
</form>
<p id="ictvoip-deck-markup">{$deckMarkup|escape}</p>
<table class="table table-condensed table-sm" id="ictvoip-deck-entries">
    <thead><tr><th>{$lang.prefix|escape}</th><th>{$lang.destination|escape}</th><th>{$lang.billedPerMinute|escape}</th><th>{$lang.billedConnectFee|escape}</th><th>{$lang.basePerMinute|escape}</th><th>{$lang.baseConnectFee|escape}</th><th>{$lang.increments|escape}</th><th>{$lang.effectiveFrom|escape}</th><th>{$lang.line|escape}</th></tr></thead>
    {foreach $deck.entries as $rate}<tr><td>{$rate.prefix|escape}</td><td>{$rate.destination|escape}</td><td class="ictvoip-billed">{$rate.ratePerMinute|escape}</td><td>{$rate.connectFee|escape}</td><td class="ictvoip-base">{$rate.baseRatePerMinute|escape}</td><td>{$rate.baseConnectFee|escape}</td><td>{$rate.increments|escape}</td><td>{$rate.effectiveFrom|escape}</td><td>{$rate.line|escape}</td></tr>{/foreach}
</table>
{/if}
{include file='_layout_bottom.tpl'}
