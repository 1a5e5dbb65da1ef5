import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function globalSetup(): void {
  const file = join(tmpdir(), `ictvoip-chaos-summary-${process.pid}.jsonl`);
  rmSync(file, { force: true });
  // Test workers are spawned after this runs, so they inherit the variables.
  process.env.ICTVOIP_CHAOS_SUMMARY = file;
  process.env.ICTVOIP_CHAOS_STARTED = String(Date.now());
}
