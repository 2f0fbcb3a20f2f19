import { load, loadAll } from 'js-yaml';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadSettings } from '../src/settings/settings';

/**
 * Static checks of the deployment files (there is no Docker engine or
 * cluster in CI): deploy/k8s/*.yaml, docker-compose.yml, Dockerfile and
 * .dockerignore. They assert what breaks a rollout silently: probe paths and
 * ports that the app does not serve, settings it does not read or cannot
 * parse, a grace period shorter than the drain, a root user, a start order
 * not gated on health.
 */

const ROOT = resolve(__dirname, '..');
const K8S_DIR = join(ROOT, 'deploy', 'k8s');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

type Doc = Record<string, any>;

/** Settings files: src/settings/settings.ts and the modules' own (src/security/security-settings.ts). */
const SETTINGS_FILES = ['src/settings/settings.ts', 'src/security/security-settings.ts'];

/** Every variable name the settings files read. */
function settingNames(): Set<string> {
  const names = new Set<string>();
  for (const file of SETTINGS_FILES)
    for (const m of read(file).matchAll(/env(?:\.|,\s*')([A-Z][A-Z0-9_]+)/g)) names.add(m[1]);
  return names;
}

/** The routes the health controller serves. */
function healthRoutes(): Set<string> {
  const source = read('src/health/health.controller.ts');
  return new Set([...source.matchAll(/@Get\('([^']+)'\)/g)].map((m) => `/${m[1]}`));
}

function k8sDocs(): { file: string; doc: Doc }[] {
  return readdirSync(K8S_DIR)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((file) =>
      loadAll(readFileSync(join(K8S_DIR, file), 'utf8'))
        .filter((doc): doc is Doc => doc !== null && typeof doc === 'object')
        .map((doc) => ({ file, doc })),
    );
}

const API_VERSIONS: Record<string, string> = {
  ConfigMap: 'v1',
  Secret: 'v1',
  Service: 'v1',
  Deployment: 'apps/v1',
  HorizontalPodAutoscaler: 'autoscaling/v2',
  PodDisruptionBudget: 'policy/v1',
};

describe('Kubernetes manifests (deploy/k8s)', () => {
  const docs = k8sDocs();
  const one = (kind: string): Doc => {
    const found = docs.filter((d) => d.doc.kind === kind);
    expect(found).toHaveLength(1);
    return found[0].doc;
  };
  const settings = settingNames();
  /** What the pod's container sees: the ConfigMap and the Secret (production needs API_KEYS from it). */
  const podEnv = (): Record<string, string> => ({
    ...(one('ConfigMap').data as Record<string, string>),
    ...(one('Secret').stringData as Record<string, string>),
  });

  it('should parse, with a known kind, its apiVersion and a DNS-1123 name in every document', () => {
    expect(docs.map((d) => String(d.doc.kind)).sort()).toEqual(Object.keys(API_VERSIONS).sort());
    for (const { file, doc } of docs) {
      expect({ file, apiVersion: doc.apiVersion }).toEqual({
        file,
        apiVersion: API_VERSIONS[doc.kind],
      });
      expect(doc.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  /** scripts/validate-k8s.mjs: the Kubernetes API's JSON schemas (kubernetes-models), offline. */
  const validate = (dir: string) =>
    spawnSync(process.execPath, [join(ROOT, 'scripts', 'validate-k8s.mjs'), dir], {
      cwd: ROOT,
      encoding: 'utf8',
    });

  it('should validate every document against the Kubernetes API schemas', () => {
    const result = validate(K8S_DIR);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`${docs.length} documents valid`);
  });

  it('should have the schema check refuse a manifest the API server would refuse', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mds-k8s-'));
    try {
      cpSync(K8S_DIR, dir, { recursive: true });
      const deployment = readFileSync(join(dir, 'deployment.yaml'), 'utf8');
      writeFileSync(
        join(dir, 'deployment.yaml'),
        deployment.replace(/^ {2}replicas: \d+$/m, '  replicas: two'),
      );
      const result = validate(dir);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('deployment.yaml: Deployment market-data-storage is invalid');
      expect(result.stderr).toContain('replicas must be integer');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should list every manifest in kustomization.yaml', () => {
    const kustomization = load(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as Doc;
    expect([...kustomization.resources].sort()).toEqual(
      [...new Set(docs.map((d) => d.file))].sort(),
    );
  });

  it('should set only settings the service reads, with values it accepts', () => {
    const config = one('ConfigMap').data as Record<string, string>;
    const secret = one('Secret').stringData as Record<string, string>;
    const env = { ...config, ...secret };
    for (const name of Object.keys(env))
      expect({ name, known: settings.has(name) }).toEqual({ name, known: true });
    // Values are strings (a bare number or boolean in a ConfigMap is rejected by the API server).
    for (const value of Object.values(env)) expect(typeof value).toBe('string');
    const parsed = loadSettings(env);
    expect(parsed.nodeEnv).toBe('production');
    expect(parsed.databaseUrl).toBeDefined();
    expect(parsed.redisUrl).toBeDefined();
    expect(parsed.events.natsUrl).toBeDefined();
  });

  it('should probe liveness on /health/live and readiness on /health/ready, on the port the app listens on', () => {
    const deployment = one('Deployment');
    const [container] = deployment.spec.template.spec.containers;
    const routes = healthRoutes();
    expect(container.livenessProbe.httpGet.path).toBe('/health/live');
    expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(container.startupProbe.httpGet.path).toBe('/health/live');
    for (const probe of [
      container.livenessProbe,
      container.readinessProbe,
      container.startupProbe,
    ]) {
      expect(routes.has(probe.httpGet.path)).toBe(true);
      expect(probe.httpGet.port).toBe('http');
    }
    const http = (container.ports as Doc[]).find((p) => p.name === 'http')!;
    expect(http.containerPort).toBe(loadSettings(podEnv()).port);
    // The startup probe outlasts the wait for the database at start.
    const startupS = container.startupProbe.periodSeconds * container.startupProbe.failureThreshold;
    expect(startupS * 1000).toBeGreaterThan(loadSettings(podEnv()).dbStartupWaitMs);
  });

  it('should give the pod a grace period longer than the preStop pause plus the drain timeout', () => {
    const pod = one('Deployment').spec.template.spec;
    const [container] = pod.containers;
    const command: string[] = container.lifecycle.preStop.exec.command;
    expect(command[0]).toBe('sleep');
    const preStopS = Number(command[1]);
    const drainS = loadSettings(podEnv()).shutdownTimeoutMs / 1000;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopS + drainS);
  });

  it('should run as a non-root user without privilege escalation, with resources set', () => {
    const pod = one('Deployment').spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    for (const container of [...pod.initContainers, ...pod.containers]) {
      expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
      expect(container.securityContext.capabilities.drop).toEqual(['ALL']);
      expect(container.image).not.toMatch(/:latest$|^[^:]+$/);
      expect(container.resources.requests.memory).toBeDefined();
      expect(container.resources.limits.memory).toBeDefined();
      expect(container.envFrom).toEqual([
        { configMapRef: { name: one('ConfigMap').metadata.name } },
        { secretRef: { name: one('Secret').metadata.name } },
      ]);
    }
  });

  it('should migrate in an init container running the built migrate-up entry point', () => {
    const pod = one('Deployment').spec.template.spec;
    const [migrate] = pod.initContainers;
    expect(migrate.command).toEqual(['node', 'dist/database/migrate-up.js']);
    expect(existsSync(join(ROOT, 'src/database/migrate-up.ts'))).toBe(true);
    expect(migrate.image).toBe(pod.containers[0].image);
  });

  it('should select the pods of the Deployment from the Service, the HPA and the PDB', () => {
    const deployment = one('Deployment');
    const labels = deployment.spec.template.metadata.labels as Record<string, string>;
    expect(labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(labels).toMatchObject(one('Service').spec.selector);
    expect(labels).toMatchObject(one('PodDisruptionBudget').spec.selector.matchLabels);
    expect(one('Service').spec.ports[0].targetPort).toBe('http');
    const hpa = one('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    // A rolling update never drops below the wanted count.
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });
});

describe('docker-compose.yml', () => {
  const compose = load(read('docker-compose.yml')) as Doc;
  const services = compose.services as Record<string, Doc>;
  const settings = settingNames();

  it('should start TimescaleDB, Redis and NATS with JetStream, each with a health check', () => {
    expect(Object.keys(services).sort()).toEqual(['app', 'nats', 'redis', 'timescaledb']);
    expect(services.timescaledb.image).toMatch(/^timescale\/timescaledb/);
    expect(services.nats.command).toContain('-js');
    for (const name of ['timescaledb', 'redis', 'nats']) {
      expect({ name, test: services[name].healthcheck?.test }).toEqual({
        name,
        test: expect.any(Array),
      });
    }
  });

  it('should start the service only once its dependencies are healthy', () => {
    expect(services.app.depends_on).toEqual({
      timescaledb: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      nats: { condition: 'service_healthy' },
    });
  });

  it('should set only settings the service reads, with values it accepts, pointing at the compose services', () => {
    const env = services.app.environment as Record<string, string>;
    for (const name of Object.keys(env))
      expect({ name, known: settings.has(name) }).toEqual({ name, known: true });
    const parsed = loadSettings(env);
    expect(new URL(parsed.databaseUrl!).hostname).toBe('timescaledb');
    expect(new URL(parsed.redisUrl!).hostname).toBe('redis');
    expect(new URL(parsed.events.natsUrl!).hostname).toBe('nats');
    expect(services.app.ports).toEqual([`${parsed.port}:${parsed.port}`]);
    // docker compose stop waits at least as long as the drain may take.
    expect(Number(/^(\d+)s$/.exec(services.app.stop_grace_period)![1]) * 1000).toBeGreaterThan(
      parsed.shutdownTimeoutMs,
    );
  });

  it('should health-check the service on its readiness route', () => {
    const test = (services.app.healthcheck.test as string[]).join(' ');
    expect(test).toContain('/health/ready');
    expect(healthRoutes().has('/health/ready')).toBe(true);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages = lines.reduce<string[][]>((acc, line) => {
    if (line.startsWith('FROM ')) acc.push([]);
    acc.at(-1)?.push(line);
    return acc;
  }, []);
  const final = stages.at(-1)!;

  it('should build in stages and install only production dependencies into the image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(lines.some((l) => /npm ci .*--omit=dev/.test(l))).toBe(true);
    // The final stage takes node_modules from a stage that omitted dev dependencies.
    const copied = final.find((l) => l.includes('/app/node_modules'))!;
    const from = /--from=(\S+)/.exec(copied)![1];
    const source = stages.find((s) => s[0].endsWith(` AS ${from}`))!;
    expect(source.some((l) => /npm ci .*--omit=dev/.test(l))).toBe(true);
  });

  it('should run as a non-root user, with a health check on the readiness route', () => {
    const user = final.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER (root|0)\b/);
    const healthcheck = final.find((l) => l.startsWith('HEALTHCHECK '));
    expect(healthcheck).toContain('/health/ready');
    // The same command, V8 flags included, as `npm run start:prod`.
    const scripts = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    expect(scripts['start:prod']).toMatch(/^node .*dist\/main\.js$/);
    const words = scripts['start:prod'].split(' ').map((w) => JSON.stringify(w));
    expect(final.at(-1)).toBe(`CMD [${words.join(', ')}]`);
    // Migrations are read at start from migrations/ beside dist/.
    expect(final.some((l) => /^COPY .*migrations/.test(l))).toBe(true);
  });

  it('should set only settings the service reads, and expose the port it listens on', () => {
    const env = Object.fromEntries(
      final
        .filter((l) => l.startsWith('ENV '))
        .flatMap((l) => [...l.slice(4).matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]])),
    );
    for (const name of Object.keys(env)) expect(settingNames().has(name)).toBe(true);
    // The image sets NODE_ENV=production; its API keys come at run time.
    const keys = { API_KEYS: 'image-test-key-000001=read' };
    expect(final).toContain(`EXPOSE ${loadSettings({ ...env, ...keys }).port}`);
  });

  it('should keep secrets, node_modules and git out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['.git', 'node_modules', '.env', 'dist']) expect(ignored).toContain(entry);
  });
});
