import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Router } from 'express';
import { requireAdminToken } from '../admin-auth';
import type { ApiDeps } from '../deps';

export const BULL_BOARD_PATH = '/admin/queues';

/** Bull Board, every queue, behind the admin token (basic auth so a browser can log in). */
export function adminBoardRouter(deps: ApiDeps): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({ queues: Object.values(deps.queues).map((queue) => new BullMQAdapter(queue)), serverAdapter });
  const router = Router();
  router.use(BULL_BOARD_PATH, requireAdminToken(deps.config.adminToken), serverAdapter.getRouter());
  return router;
}
