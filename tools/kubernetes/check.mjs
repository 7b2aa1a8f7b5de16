// Validates every manifest in a folder against the Kubernetes API's own schemas, with kubernetes-models (its models
// are generated from the Kubernetes OpenAPI specification, and validate() checks an object against them), and prints
// the manifests as JSON, for the tests to check the project's own facts in them.
// Usage: node check.mjs <folder>   (exit 1 with the problems on stderr when one is not valid)
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

const folder = process.argv[2];
const manifests = [];
let failed = false;
for (const file of (await readdir(folder)).filter(f => f.endsWith('.yaml')).sort()) {
  for (const document of parseAllDocuments(await readFile(path.join(folder, file), 'utf8'))) {
    if (document.errors.length > 0) {
      failed = true;
      console.error(`${file}: not YAML: ${document.errors.map(e => e.message).join('; ')}`);
      continue;
    }
    const manifest = document.toJS();
    if (!manifest) continue;
    const where = `${file}: ${manifest.kind} ${manifest.metadata?.name}`;
    // apiVersion "v1" is the core group; "apps/v1" is group apps, version v1.
    const group = manifest.apiVersion?.includes('/') ? manifest.apiVersion : `v1`;
    let models;
    try {
      models = await import(`kubernetes-models/${group}`);
    } catch {
      failed = true;
      console.error(`${where}: no such API version ${manifest.apiVersion}`);
      continue;
    }
    const Kind = models[manifest.kind];
    if (!Kind) {
      failed = true;
      console.error(`${where}: no kind ${manifest.kind} in ${manifest.apiVersion}`);
      continue;
    }
    try {
      new Kind(manifest).validate();
    } catch (e) {
      failed = true;
      console.error(`${where}: ${e.message}`);
    }
    manifests.push({ file, ...manifest });
  }
}
if (failed) process.exit(1);
process.stdout.write(JSON.stringify(manifests));
