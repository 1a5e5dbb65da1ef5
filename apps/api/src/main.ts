import { runService } from '@ictvoip/config';
import { startApi } from './server';

void runService('api', (config, logger) => startApi(config, logger));
