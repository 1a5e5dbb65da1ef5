import { runService } from '@ictvoip/config';
import { startWorker } from './worker';

void runService('worker', (config, logger) => startWorker(config, logger));
