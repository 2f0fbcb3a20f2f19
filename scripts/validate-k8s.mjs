// Validates the Kubernetes manifests against the API schemas, offline
// (kubernetes-models carries the JSON schemas of the Kubernetes API).
// Usage: node scripts/validate-k8s.mjs [dir]  (default deploy/k8s); exit 1 on
// the first document that does not validate, naming its file and kind.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';

const dir = process.argv[2] ?? 'deploy/k8s';
// kustomization.yaml is kustomize's, not an API object.
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
let count = 0;
for (const file of files.sort()) {
  for (const doc of loadAll(readFileSync(join(dir, file), 'utf8'))) {
    if (!doc) continue;
    const { apiVersion, kind } = doc;
    // apps/v1 -> kubernetes-models/apps/v1/Deployment; v1 -> kubernetes-models/v1/Service
    const module = await import(`kubernetes-models/${apiVersion}/${kind}`).catch(() => undefined);
    const Model = module?.[kind];
    if (!Model) {
      console.error(`${file}: no schema for ${apiVersion} ${kind}`);
      process.exit(1);
    }
    try {
      new Model(doc).validate();
    } catch (error) {
      console.error(`${file}: ${kind} ${doc.metadata?.name ?? ''} is invalid: ${error.message}`);
      process.exit(1);
    }
    console.log(`${file}: ${apiVersion} ${kind} ${doc.metadata.name} valid`);
    count++;
  }
}
console.log(`${count} documents valid`);
