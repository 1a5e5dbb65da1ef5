<?php
/** One module call = one event: build, sign, POST, map, log. Never throws into WHMCS. */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class Module
{
    /** How long the bridge may hold a state change before answering `pending` (?wait=, contract max 25). */
    public const STATE_CHANGE_WAIT_SECONDS = 20;
    public const TEST_CONNECTION_WAIT_SECONDS = 10;
    /** Reads render admin and client pages: fail fast rather than hang a page. */
    public const READ_TIMEOUT_SECONDS = 10;

    /** Create, suspend, unsuspend, terminate, change_package, change_password and custom buttons. */
    public static function stateChange(string $whmcsFunction, string $action, array $params, array $extra = []): string
    {
        $secrets = ModuleLog::secrets($params);
        try {
            $endpoint = BridgeEndpoint::fromParams($params);
            $event = EventBuilder::forService($action, $params, $extra);
        } catch (ModuleInputError $error) {
            $message = ReplyMapper::plainText(ModuleLog::scrub($error->getMessage(), $secrets));
            ModuleLog::record($whmcsFunction, ['action' => $action], '', $message, $secrets);
            return $message;
        }
        return self::deliver($whmcsFunction, $endpoint, $event, $params, $secrets);
    }

    public static function testConnection(array $params): array
    {
        $secrets = ModuleLog::secrets($params);
        try {
            $endpoint = BridgeEndpoint::fromParams($params);
            $event = EventBuilder::forServer('test_connection', $params);
            $reply = BridgeClient::post($endpoint, BridgeClient::encode($event), self::TEST_CONNECTION_WAIT_SECONDS);
            $url = $endpoint->webhookUrl(null);
            $result = ReplyMapper::toTestConnection($reply, $url);
            $result['error'] = ReplyMapper::plainText(ModuleLog::scrub($result['error'], $secrets));
            ModuleLog::record('TestConnection', ['url' => $url, 'event' => $event], self::rawResponse($reply), $result, $secrets);
            return $result;
        } catch (\Throwable $error) {
            $message = ReplyMapper::plainText(ModuleLog::scrub($error->getMessage(), $secrets));
            ModuleLog::record('TestConnection', [], '', $message, $secrets);
            return ['success' => false, 'error' => $message];
        }
    }

    /**
     * A read of the tenant's live state for the admin tab or the client area (the bridge's own `status`
     * event). Returns [reply JSON or null, error message or null].
     */
    public static function read(string $whmcsFunction, string $audience, array $params): array
    {
        $secrets = ModuleLog::secrets($params);
        try {
            $endpoint = BridgeEndpoint::fromParams($params);
            $event = EventBuilder::forService('status', $params, ['audience' => $audience]);
            $reply = BridgeClient::post($endpoint, BridgeClient::encode($event), null, self::READ_TIMEOUT_SECONDS);
            $url = $endpoint->webhookUrl(null);
            $result = ReplyMapper::toResult($reply, $url);
            ModuleLog::record($whmcsFunction, ['url' => $url, 'event' => ModuleLog::redactEvent($event)], self::rawResponse($reply), $result, $secrets);
            return $result === ReplyMapper::SUCCESS ? [$reply->json, null] : [null, ModuleLog::scrub($result, $secrets)];
        } catch (\Throwable $error) {
            $message = ModuleLog::scrub($error->getMessage(), $secrets);
            ModuleLog::record($whmcsFunction, [], '', $message, $secrets);
            return [null, $message];
        }
    }

    private static function deliver(string $whmcsFunction, BridgeEndpoint $endpoint, array $event, array $params, array $secrets): string
    {
        try {
            $reply = BridgeClient::post($endpoint, BridgeClient::encode($event), self::STATE_CHANGE_WAIT_SECONDS);
            $url = $endpoint->webhookUrl(null);
            $result = ReplyMapper::plainText(ModuleLog::scrub(ReplyMapper::toResult($reply, $url), $secrets));
            $saveError = $result === ReplyMapper::SUCCESS ? ServiceProperties::save($params, $reply->field('serviceProperties')) : null;
            $processed = $saveError === null ? $result : ['result' => $result, 'serviceProperties' => $saveError];
            ModuleLog::record($whmcsFunction, ['url' => $url, 'event' => ModuleLog::redactEvent($event)], self::rawResponse($reply), $processed, $secrets);
            return $result;
        } catch (\Throwable $error) {
            $message = ReplyMapper::plainText('ictVoIP module error: ' . ModuleLog::scrub($error->getMessage(), $secrets) . ' ' . ReplyMapper::SAFE_TO_RETRY);
            ModuleLog::record($whmcsFunction, ['event' => ModuleLog::redactEvent($event)], '', $message, $secrets);
            return $message;
        }
    }

    private static function rawResponse(BridgeReply $reply): string
    {
        return $reply->isTransportFailure() ? 'transport failure: ' . $reply->transportError : 'HTTP ' . $reply->httpStatus . "\n" . $reply->rawBody;
    }
}
