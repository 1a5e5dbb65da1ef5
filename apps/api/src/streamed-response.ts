import type { Response } from 'express';
import { fusionServerOfError } from '@ictvoip/fusionpbx';
import type { Logger } from '@ictvoip/config';

/** The status line and headers of a streamed answer: sent with its first chunk, not before. */
export interface StreamHead {
  status: number;
  headers: Record<string, string>;
}

/** Writes `chunk`, waiting for 'drain' when the socket is full (or for the client to go away). */
export async function writeWithBackPressure(res: Response, chunk: string): Promise<void> {
  if (res.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** What the log may say of a failure: its kind, code and message, and the FusionPBX server it came from (never a URL or password). */
function failureOf(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, code: typeof code === 'string' ? code : undefined, message: error.message, server: fusionServerOfError(error) ?? undefined };
}

/**
 * Streams `chunks` with back-pressure. The first chunk is made before anything is sent, so a failure
 * there is thrown and the caller answers a clean error status. A failure after the status line is out
 * cannot be said in the body any more: a CSV cut between two rows still parses as a complete file. So
 * the failure is logged and the socket destroyed: chunked encoding is never terminated (nor a
 * Content-Length met), and every HTTP client (curl: exit 18) reports an incomplete transfer.
 */
export async function streamChunks(res: Response, logger: Logger, head: StreamHead, chunks: AsyncGenerator<string>, what: string): Promise<void> {
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  let bytes = 0;
  try {
    for (let next = await chunks.next(); !next.done && !closed; next = await chunks.next()) {
      if (!res.headersSent) {
        res.status(head.status);
        for (const [name, value] of Object.entries(head.headers)) res.setHeader(name, value);
      }
      await writeWithBackPressure(res, next.value);
      bytes += Buffer.byteLength(next.value);
    }
    if (!res.headersSent) res.status(head.status).set(head.headers);
    res.end();
  } catch (error) {
    if (!res.headersSent) throw error;
    logger.error(
      { stream: what, path: res.req.path, requestId: res.locals.requestId as unknown, bytesSent: bytes, failure: failureOf(error) },
      'streamed answer failed after its first bytes were sent; connection dropped so the client sees an incomplete transfer',
    );
    res.destroy();
  } finally {
    // Lets a generator left half-read (client gone, or failed) close its database cursor or loop.
    await chunks.return(undefined).catch(() => undefined);
  }
}
