// Moved to @ictvoip/fusionpbx so the API builds the same provisioner options (webhook dry-run).
export { DEFAULT_BRAND, loadProvisioningFile, provisionerOptionsFrom, ProvisioningFileError } from '@ictvoip/fusionpbx';
