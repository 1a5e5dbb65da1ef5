import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './run-cli';

describe('docker-compose.yml', () => {
  it('hands every setting of the .env beside it to the bridge containers, not only the few it names', () => {
    const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    // In the shared x-bridge block (the api and worker services merge it), optional: no .env, no error.
    expect(compose).toMatch(/x-bridge: &bridge[\s\S]*\n {2}env_file:\n {4}- path: \.env\n {6}required: false\n[\s\S]*\nservices:/);
    // The image holds no .env (.dockerignore): env_file is the only way its settings reach the containers.
    expect(readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')).toContain('.env');
  });
});
