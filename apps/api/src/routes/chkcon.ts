import { Router } from 'express';
import { canonicalPeer, peerAddress } from '@ictvoip/whitelist';
import type { ApiDeps } from '../deps';

export const CHKCON_PATH = '/app/xml_cdr/chkcon.php';

/** FusionPBX-compatible connectivity check: answers only to peers in chkcon_whitelist.conf. */
export function chkconRouter(deps: ApiDeps): Router {
  const router = Router();
  router.all(CHKCON_PATH, (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') return next();
    const peer = peerAddress(req, deps.trustProxy);
    const ip = canonicalPeer(peer) ?? peer ?? '';
    if (deps.whitelist.isAllowed(peer)) {
      return void res.status(200).json({ success: 1, message: 'API Access Granted: Whitelisted IP', ip });
    }
    deps.logger.warn({ ip }, 'chkcon denied');
    res.status(403).json({ success: 0, message: 'API Access Denied: Only whitelisted IPs may access this endpoint.', ip });
  });
  return router;
}
