<?php
/** A problem with what WHMCS gave us (settings, server record); reported to staff without calling the bridge. */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class ModuleInputError extends \RuntimeException
{
}
