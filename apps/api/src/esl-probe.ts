import { Socket } from 'node:net';

/** Connects to the event socket and authenticates; resolves on "+OK", rejects with the reason. */
export function probeEventSocket(esl: { host: string; port: number; password: string }, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let buffer = '';
    let authSent = false;
    const finish = (error?: Error) => {
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => finish(new Error('event socket did not answer in time')));
    socket.once('error', (error) => finish(new Error(`event socket unreachable: ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      if (!authSent && buffer.includes('auth/request')) {
        authSent = true;
        buffer = '';
        socket.write(`auth ${esl.password}\n\n`);
        return;
      }
      if (authSent && buffer.includes('\n\n')) {
        if (/Reply-Text: \+OK/.test(buffer)) finish();
        else finish(new Error('event socket refused the password'));
      }
      if (buffer.includes('rude-rejection')) finish(new Error('event socket refused this address (ACL)'));
    });
    socket.connect(esl.port, esl.host);
  });
}
