import type { Pool } from 'pg';
import { FusionpbxConfigError } from './errors';

export interface FusionpbxReadiness {
  domains: number;
  /** The template domain every create copies its dialplans from is there (without it every create fails). */
  hasTemplateDomain: boolean;
}

/**
 * What provisioning needs of a FusionPBX database before its first create: FusionPBX's schema (a
 * database without `v_domains` fails here, naming the relation) and the template domain.
 */
export async function fusionpbxReadiness(db: Pool, templateDomain: string): Promise<FusionpbxReadiness> {
  const { rows } = await db.query<{ domains: number; template: boolean | null }>('SELECT count(*)::int AS domains, bool_or(domain_name = $1) AS template FROM v_domains', [
    templateDomain,
  ]);
  return { domains: rows[0]?.domains ?? 0, hasTemplateDomain: rows[0]?.template === true };
}

/** The refusal when the template domain is missing, naming the variable (never a secret). */
export function missingTemplateDomain(templateDomain: string): FusionpbxConfigError {
  return new FusionpbxConfigError(`FUSIONPBX_TEMPLATE_DOMAIN ${templateDomain} is not a domain of this FusionPBX database: every create would fail`);
}
