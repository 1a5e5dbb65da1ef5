{* Navigation and messages shared by every ictVoIP addon page. *}
<div class="ictvoip-admin" id="ictvoip-admin">
<ul class="nav nav-tabs admin-tabs" role="tablist">
{foreach $pages as $tab}
    <li class="nav-item{if $tab == $page} active{/if}"><a class="nav-link{if $tab == $page} active{/if}" href="{$modulelink|escape}&amp;page={$tab|escape:'url'}">{$lang[$tab]|default:$tab|escape}</a></li>
{/foreach}
</ul>
<div class="tab-content admin-tabs" style="padding-top:15px">
{if $notice}<div class="alert alert-success" id="ictvoip-notice">{$notice|escape}</div>{/if}
{if $error}
    <div class="alert alert-danger" id="ictvoip-error">
        <strong>{if $error.kind == 'setup'}{$lang.setupNeeded|escape}{elseif $error.kind == 'bridge'}{$lang.bridgeDown|escape}{else}{$lang.refused|escape}{/if}:</strong> {$error.message|escape}
        {if $error.details}<ul>{foreach $error.details as $detail}<li>{$detail.path|escape}: {$detail.message|escape}</li>{/foreach}</ul>{/if}
    </div>
{/if}
