import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { CompatError } from './envelope';

/**
 * `multipart/form-data` bodies (`curl -F username=admin -F …`, PHP scripts posting an array with
 * CURLOPT_POSTFIELDS) read into req.body like the urlencoded ones, so ictVoIP's endpoints accept
 * both as PHP does. The body is read up to `limitBytes` and parsed by the runtime's own multipart
 * parser (undici's Response.formData). A repeated field becomes a list and an uploaded file an
 * object, which formField refuses by name, as for urlencoded forms.
 */
export function multipartForm(limitBytes: number, maxFields: number): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (!req.is('multipart/form-data')) return next();
    readBody(req, limitBytes)
      .then((body) => parseFields(body, req.get('content-type') ?? '', maxFields))
      .then((fields) => {
        req.body = fields;
        next();
      })
      .catch(next);
  };
}

function readBody(req: Request, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(new CompatError(413, 'PAYLOAD_TOO_LARGE', `Invalid Request: request body exceeds ${Math.round(limitBytes / 1024)} KiB`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function parseFields(body: Buffer, contentType: string, maxFields: number): Promise<Record<string, unknown>> {
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw new CompatError(400, 'BAD_REQUEST', 'Invalid Request: request body could not be read');
  }
  const fields: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  let count = 0;
  for (const [name, value] of form.entries()) {
    count += 1;
    if (count > maxFields) throw new CompatError(413, 'PAYLOAD_TOO_LARGE', `Invalid Request: more than ${maxFields} form fields`);
    const item = typeof value === 'string' ? value : { file: value.name };
    const previous = fields[name];
    fields[name] = previous === undefined ? item : Array.isArray(previous) ? [...(previous as unknown[]), item] : [previous, item];
  }
  return fields;
}
