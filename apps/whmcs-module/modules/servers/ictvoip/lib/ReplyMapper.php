<?php
/** Maps a bridge reply to WHMCS's convention: "success", or a message staff can act on. */

namespace WHMCS\Module\Server\Ictvoip;

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

final class ReplyMapper
{
    public const SUCCESS = 'success';
    public const SAFE_TO_RETRY = 'This action is safe to retry.';
    /** What a client sees when a password change they made failed (the details are in the module log). */
    public const CLIENT_PASSWORD_FAILURE = 'Your password could not be changed right now. Please try again in a few minutes, or contact support.';

    /**
     * A message for WHMCS as plain text: WHMCS shows a module's message to staff (service page, Module Queue,
     * its notification e-mail) and, for ChangePassword, to the client, and the bridge's messages can quote
     * what a customer typed at order time (a DIDs custom field). Whatever could open a tag, comment or
     * declaration (`<` before a letter, `/`, `!` or `?`) becomes `‹`; "<= 10000" and the rest stay as they are.
     */
    public static function plainText(string $message): string
    {
        return (string) preg_replace('#<(?=[A-Za-z/!?])#', "\u{2039}", $message);
    }

    /** For the state-changing calls (create, suspend, …) and custom buttons. */
    public static function toResult(BridgeReply $reply, string $url): string
    {
        if ($reply->isTransportFailure()) {
            return self::transportMessage($reply, $url);
        }
        $status = $reply->httpStatus;
        if ($status >= 200 && $status < 300) {
            return self::answeredMessage($reply);
        }
        return self::httpErrorMessage($reply);
    }

    /** For TestConnection: any signed reply the bridge accepted proves URL and secret are right. */
    public static function toTestConnection(BridgeReply $reply, string $url): array
    {
        if (!$reply->isTransportFailure() && $reply->httpStatus >= 200 && $reply->httpStatus < 300) {
            $result = $reply->result();
            if ($result === 'success' || $result === 'pending') {
                return ['success' => true, 'error' => ''];
            }
        }
        return ['success' => false, 'error' => self::toResult($reply, $url)];
    }

    private static function answeredMessage(BridgeReply $reply): string
    {
        switch ($reply->result()) {
            case 'success':
                return self::SUCCESS;
            case 'error':
                $message = $reply->message() !== '' ? $reply->message() : 'the bridge reported an error without a message';
                return 'ictVoIP bridge: ' . $message . ($reply->field('retryable') === true ? ' (temporary) ' . self::SAFE_TO_RETRY : '');
            case 'pending':
                // FusionPBX holds the change (a suspend is in force there); only FreeSWITCH's side waits for its
                // event socket, and the bridge finishes it on its own. WHMCS records the action as done; the
                // module log keeps the bridge's note.
                if ($reply->field('state') === 'pending_apply') {
                    return self::SUCCESS;
                }
                $job = $reply->field('jobId');
                return 'The ictVoIP bridge accepted the request and is still working on it'
                    . (is_scalar($job) && $job !== '' ? ' (job ' . $job . ')' : '')
                    . '. ' . self::SAFE_TO_RETRY . ' Retrying later reports the outcome without doing the work twice.';
            default:
                return sprintf('Unexpected reply from the ictVoIP bridge (HTTP %d, %s). %s', $reply->httpStatus, $reply->json === null ? 'not JSON' : 'no result field', self::SAFE_TO_RETRY);
        }
    }

    private static function httpErrorMessage(BridgeReply $reply): string
    {
        $status = $reply->httpStatus;
        $message = $reply->message();
        $details = $reply->details();
        $said = trim($message . ($details !== '' ? ' (' . $details . ')' : ''));
        $said = $said === '' ? '' : ': ' . $said;
        if ($status === 401) {
            return 'The ictVoIP bridge refused the signature (HTTP 401' . $said . '). Check that the server\'s Access Hash equals the bridge\'s WEBHOOK_SECRET and that both clocks are correct.';
        }
        if ($status === 403) {
            return 'The ictVoIP bridge refused this WHMCS host (HTTP 403' . $said . ').';
        }
        if ($status === 400 || $status === 409 || $status === 413 || $status === 415 || $status === 404) {
            return 'The ictVoIP bridge rejected the request (HTTP ' . $status . $said . ').';
        }
        if ($status === 429 || $status >= 500) {
            return 'The ictVoIP bridge is busy or one of its dependencies is down (HTTP ' . $status . $said . '). ' . self::SAFE_TO_RETRY;
        }
        return 'Unexpected reply from the ictVoIP bridge (HTTP ' . $status . $said . '). ' . self::SAFE_TO_RETRY;
    }

    private static function transportMessage(BridgeReply $reply, string $url): string
    {
        if ($reply->timedOut) {
            return sprintf('No answer from the ictVoIP bridge at %s in time (%s); it may still complete the action. %s', $url, $reply->transportError, self::SAFE_TO_RETRY);
        }
        return sprintf('Could not reach the ictVoIP bridge at %s (%s). %s', $url, $reply->transportError, self::SAFE_TO_RETRY);
    }
}
