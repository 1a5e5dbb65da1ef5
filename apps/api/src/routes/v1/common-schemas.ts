import Joi from 'joi';

/** `{tenant}`: WHMCS service id or tenant domain. Anything else cannot exist, so it is a 404 later. */
export const tenantParam = Joi.string().max(253).required().description('WHMCS service id (digits) or the tenant domain');

/** Free text written to FusionPBX: no control characters or line breaks. */
export const safeText = (max: number) =>
  Joi.string()
    .max(max)
    .pattern(/^[^\x00-\x1f\x7f]*$/, 'no control characters');

export const extensionNumber = Joi.string()
  .pattern(/^[0-9]{2,15}$/, 'digits')
  .description('2-15 digits');
export const callerIdNumber = Joi.string()
  .pattern(/^\+?[0-9]{1,20}$/, 'E.164-ish number')
  .description('digits with optional leading +');
