/**
 * deploy/kubernetes/: promedic as a DaemonSet, one pod per node. No cluster runs here, so each
 * manifest is checked against the schema of its kind (Kubernetes' OpenAPI schemas from
 * kubernetes-models, the Prometheus Operator's CRD schemas from
 * @kubernetes-models/prometheus-operator, compiled validators that work offline), with no field
 * those schemas do not know (the API server's strict field validation, kubectl's default, would
 * refuse one). Then the wiring between the manifests and promedic: the ConfigMap's promedic.yml
 * passes promedic's own validation with the DaemonSet's environment and starts in fleet mode,
 * the ports, probes, Service and monitors agree, the mounts are where the config looks, and
 * kustomization.yaml lists every manifest. `kubectl kustomize` is run when kubectl is installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import * as monitoringV1 from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as coreV1 from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { loadConfig } from '../src/config.js';
import { loadRules } from '../src/rules/playbook.js';
import { type Scope, fleetProblems, outOfScope } from '../src/scope.js';
import { ROOT, type Running, killAll, requireBinary, runCli, startCli, tempDir, waitFor } from './helpers/index.js';
import { relabel as relabelRules } from './helpers/stack.js';

const DIR = join(ROOT, 'deploy/kubernetes');
/** kubectl is optional, in CI too (requireBinary would make it required there): its kustomize is a bonus check. */
const kubectl = (() => {
  const r = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
})();

// ---- the manifests ----

/** Every *.yaml under deploy/kubernetes/, kustomizations apart (examples/ holds .yml files that are no Kubernetes objects). */
function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) return yamlFiles(p);
      return /\.yaml$/.test(f) ? [p] : [];
    });
}
const kustomizations = yamlFiles(DIR).filter((f) => posix.basename(f) === 'kustomization.yaml');
const manifests = yamlFiles(DIR).filter((f) => !kustomizations.includes(f));

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
const docs: Array<{ file: string; doc: Doc }> = manifests.flatMap((file) =>
  parseAllDocuments(readFileSync(file, 'utf8'))
    .filter((d) => d.contents !== null)
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0]?.message}`);
      return { file: relative(DIR, file), doc: d.toJS() as Doc };
    }),
);
function one<T = Doc>(kind: string): T {
  const found = docs.filter((d) => d.doc.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} in deploy/kubernetes, found ${found.length}`);
  return found[0]?.doc as T;
}

interface Probe {
  httpGet: { path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports: Array<{ name: string; containerPort: number; protocol?: string }>;
  livenessProbe: Probe;
  readinessProbe: Probe;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Record<string, unknown> & { capabilities?: { drop?: string[]; add?: string[] } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }>;
}
interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string; defaultMode?: number };
  emptyDir?: Record<string, unknown>;
  hostPath?: { path: string };
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
  hostNetwork?: boolean;
  dnsPolicy?: string;
  tolerations?: Array<{ key?: string; operator?: string; effect?: string }>;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: Volume[];
}
interface DaemonSet extends Doc {
  spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Relabeling {
  sourceLabels?: string[];
  separator?: string;
  regex?: string;
  targetLabel?: string;
  replacement?: string;
  action?: string;
}
interface MonitorEndpoint {
  port: string;
  path?: string;
  relabelings?: Relabeling[];
}
interface Monitor extends Doc {
  spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector?: { matchNames?: string[] }; endpoints?: MonitorEndpoint[]; podMetricsEndpoints?: MonitorEndpoint[] };
}
interface ServiceDoc extends Doc {
  spec: { clusterIP?: string; selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: number | string }> };
}

const daemonSet = one<DaemonSet>('DaemonSet');
const pod = daemonSet.spec.template.spec;
const container = pod.containers[0] as Container;
const configMap = one<Doc & { data: Record<string, string> }>('ConfigMap');
const serviceDoc = one<ServiceDoc>('Service');
const serviceMonitor = one<Monitor>('ServiceMonitor');
const podMonitor = one<Monitor>('PodMonitor');
const promedicYml = configMap.data['promedic.yml'] as string;
const promedicConfig = parse(promedicYml) as {
  listen: { port: number; address?: string };
  data_dir: string;
  rules_dir: string;
  auth: { token_file: string };
  paths: { procfs: string; sysfs: string; rootfs: string };
  fleet: { enabled: boolean };
  scope: Scope;
};

/** The Dockerfile's final stage: its working directory, user and the rules it copies. */
const dockerfile = (() => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM\s.*$/m).slice(1);
  const last = (stages.at(-1) ?? '').split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const op = (name: string) => last.filter((l) => new RegExp(`^\\s*${name}\\s`, 'i').test(l)).map((l) => l.trim().replace(/^\S+\s+/, ''));
  return { workdir: op('WORKDIR').at(-1) ?? '/', user: op('USER').at(-1), copies: op('COPY'), cmd: op('CMD').at(-1) ?? '' };
})();

/** The pod's environment as the kubelet builds it: field references resolved, $(VAR) expanded from earlier variables. */
function podEnv(fields: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.valueFrom?.fieldRef) {
      const v = fields[e.valueFrom.fieldRef.fieldPath];
      if (v === undefined) throw new Error(`no test value for fieldRef ${e.valueFrom.fieldRef.fieldPath}`);
      env[e.name] = v;
    } else {
      env[e.name] = (e.value ?? '').replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) => (name === undefined ? '$' : (env[name] ?? m)));
    }
  }
  return env;
}
const NODE = { 'spec.nodeName': 'node-a', 'status.hostIP': '10.0.0.11' };

/** A container port by name or number, as probes, Services and PodMonitors name it. */
function containerPort(ref: number | string): number | undefined {
  return typeof ref === 'number' ? container.ports.find((p) => p.containerPort === ref)?.containerPort : container.ports.find((p) => p.name === ref)?.containerPort;
}
const mountOf = (path: string) => container.volumeMounts.find((m) => m.mountPath === path);
const volumeOf = (name: string | undefined) => pod.volumes.find((v) => v.name === name);
/** The volume under a path in the container, and the path inside it. */
function volumeAt(path: string): { volume: Volume | undefined; mount: Container['volumeMounts'][number]; rest: string } | null {
  const m = container.volumeMounts.filter((vm) => path === vm.mountPath || path.startsWith(`${vm.mountPath}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  return m ? { volume: volumeOf(m.name), mount: m, rest: path.slice(m.mountPath.length).replace(/^\//, '') } : null;
}
const subset = (small: Record<string, string>, big: Record<string, string> | undefined) => Object.entries(small).every(([k, v]) => big?.[k] === v);

/** The Prometheus Operator's relabelings, through Prometheus' own (test/helpers/stack.ts). */
function relabel(labels: Record<string, string>, rules: Relabeling[] = []): Record<string, string> {
  return relabelRules(
    labels,
    rules.map((r) => ({
      ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}),
      ...(r.separator !== undefined ? { separator: r.separator } : {}),
      ...(r.regex !== undefined ? { regex: r.regex } : {}),
      ...(r.targetLabel !== undefined ? { target_label: r.targetLabel } : {}),
      ...(r.replacement !== undefined ? { replacement: r.replacement } : {}),
      ...(r.action !== undefined ? { action: r.action } : {}),
    })),
  );
}

// ---- schemas ----

type ModelClass = new (data: unknown) => { validate(): void; toJSON(): unknown };
/** apiVersion/kind -> the model whose validate() checks that kind's schema. */
const MODELS = new Map<string, ModelClass>();
for (const [apiVersion, mod] of [
  ['v1', coreV1],
  ['apps/v1', appsV1],
  ['monitoring.coreos.com/v1', monitoringV1],
] as const) {
  for (const [kind, cls] of Object.entries(mod)) {
    const c = cls as { apiVersion?: string; kind?: string };
    if (typeof cls === 'function' && c.apiVersion === apiVersion && c.kind === kind) MODELS.set(`${apiVersion}/${kind}`, cls as unknown as ModelClass);
  }
}

/**
 * Fields the schema does not know. The validators are compiled JSON Schema (Ajv), which read
 * every property their schema defines and ignore the rest; run over a proxy that records each
 * property read, what was never read is unknown to the schema (a typo such as `livenessprobe`).
 */
function unknownFields(model: { validate(): void; toJSON(): unknown }): string[] {
  const read = new Set<string>();
  const wrap = (obj: unknown, path: string): unknown => {
    if (!obj || typeof obj !== 'object') return obj;
    return new Proxy(obj, {
      get(target, key, receiver) {
        const v: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== 'string' || !Object.prototype.hasOwnProperty.call(target, key)) return v;
        read.add(`${path}/${key}`);
        return wrap(v, `${path}/${key}`);
      },
    });
  };
  model.validate.call(wrap(model, ''));
  const unknown: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}/${i}`));
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        const p = `${path}/${k}`;
        if (read.has(p)) walk(x, p);
        else unknown.push(p);
      }
    }
  };
  walk(model.toJSON(), '');
  return unknown;
}

function schemaProblems(doc: Doc): string[] {
  const Model = MODELS.get(`${doc.apiVersion}/${doc.kind}`);
  if (!Model) return [`no schema for ${doc.apiVersion} ${doc.kind}`];
  const model = new Model(doc);
  try {
    model.validate();
  } catch (err) {
    return [(err as Error).message];
  }
  return unknownFields(model).map((p) => `${p}: unknown field`);
}

describe('deploy/kubernetes: the manifests', () => {
  it('parses every manifest, and every document has apiVersion, kind and metadata.name', () => {
    expect(manifests.length).toBeGreaterThan(0);
    expect(new Set(docs.map((d) => d.file)).size).toBe(manifests.length);
    for (const { file, doc } of docs) {
      expect(typeof doc.apiVersion, file).toBe('string');
      expect(typeof doc.kind, file).toBe('string');
      expect(doc.metadata?.name, file).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(docs.map((d) => d.doc.kind).sort()).toEqual(['ConfigMap', 'DaemonSet', 'Namespace', 'PodMonitor', 'Service', 'ServiceAccount', 'ServiceMonitor']);
  });

  it('validates each document against the schema of its kind, with no field the schema does not know', () => {
    const problems = docs.flatMap(({ file, doc }) => schemaProblems(doc).map((p) => `${file}: ${doc.kind} ${doc.metadata.name}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('catches what it should: a wrong type, a missing required field, an unknown field, an unknown kind', () => {
    const broken = structuredClone(daemonSet);
    (broken.spec.template.spec.containers[0] as unknown as Record<string, unknown>).livenessprobe = {};
    expect(schemaProblems(broken)).toEqual(['/spec/template/spec/containers/0/livenessprobe: unknown field']);
    const typed = structuredClone(daemonSet);
    (typed.spec.template.spec.containers[0]?.ports[0] as { containerPort: unknown }).containerPort = '9477';
    expect(schemaProblems(typed).join('\n')).toMatch(/containerPort must be integer/);
    const noSelector = structuredClone(daemonSet) as Partial<DaemonSet>;
    delete (noSelector.spec as Partial<DaemonSet['spec']>).selector;
    expect(schemaProblems(noSelector as Doc).join('\n')).toMatch(/required property .?selector/);
    const badAction = structuredClone(serviceMonitor);
    (badAction.spec.endpoints?.[0]?.relabelings?.[0] as Relabeling).action = 'rename';
    expect(schemaProblems(badAction).join('\n')).toMatch(/action must be equal to one of the allowed values/);
    expect(schemaProblems({ ...serviceMonitor, apiVersion: 'monitoring.coreos.com/v2' })).toEqual(['no schema for monitoring.coreos.com/v2 ServiceMonitor']);
  });

  it('puts every namespaced object in the promedic Namespace', () => {
    const ns = one('Namespace').metadata.name;
    expect(ns).toBe('promedic');
    for (const { file, doc } of docs.filter((d) => d.doc.kind !== 'Namespace')) expect(doc.metadata.namespace, file).toBe(ns);
    for (const k of kustomizations.filter((f) => (parse(readFileSync(f, 'utf8')) as { kind: string }).kind === 'Kustomization')) {
      expect((parse(readFileSync(k, 'utf8')) as { namespace?: string }).namespace, relative(DIR, k)).toBe(ns);
    }
  });
});

describe('deploy/kubernetes: kustomization.yaml', () => {
  interface Kustomization {
    kind: string;
    resources?: string[];
    components?: string[];
    patches?: Array<{ patch: string }>;
  }
  const read = (f: string) => parse(readFileSync(f, 'utf8')) as Kustomization;

  it('lists every manifest of its directory, and each component lists its own', () => {
    const listed: string[] = [];
    for (const k of kustomizations) {
      const dir = posix.dirname(k);
      const resources = read(k).resources ?? [];
      for (const r of resources) expect(existsSync(join(dir, r)), `${relative(DIR, k)}: ${r}`).toBe(true);
      const files = resources.filter((r) => statSync(join(dir, r)).isFile());
      const here = manifests.filter((m) => posix.dirname(m) === dir).map((m) => posix.basename(m));
      expect(files.sort(), relative(DIR, k)).toEqual(here.sort());
      listed.push(...files.map((f) => join(dir, f)));
    }
    expect(listed.sort()).toEqual([...manifests].sort());
  });

  it('offers the PodMonitor as a component that replaces the ServiceMonitor, never both', () => {
    const root = read(join(DIR, 'kustomization.yaml'));
    expect(root.kind).toBe('Kustomization');
    expect(root.resources).toContain('servicemonitor.yaml');
    // Off by default, named where it is switched on.
    expect(root.components ?? []).toEqual([]);
    expect(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')).toMatch(/^#\s+- components\/podmonitor$/m);
    const component = read(join(DIR, 'components/podmonitor/kustomization.yaml'));
    expect(component).toMatchObject({ kind: 'Component', resources: ['podmonitor.yaml'] });
    const deleted = (component.patches ?? []).map((p) => parse(p.patch) as Doc & { $patch?: string });
    expect(deleted).toEqual([{ $patch: 'delete', apiVersion: serviceMonitor.apiVersion, kind: 'ServiceMonitor', metadata: { name: serviceMonitor.metadata.name, namespace: serviceMonitor.metadata.namespace } }]);
  });

  describe.runIf(kubectl)('kubectl kustomize', () => {
    const tmp = tempDir('promedic-kustomize-');
    afterAll(() => tmp.cleanup());
    const build = (dir: string) => {
      const r = spawnSync(kubectl as string, ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      return parseAllDocuments(r.stdout).map((d) => d.toJS() as Doc);
    };
    const strip = (d: Doc) => JSON.parse(JSON.stringify(d)) as Doc;

    it('builds the manifests as they are, with the ServiceMonitor', () => {
      const built = build(DIR);
      const expected = docs.filter((d) => d.doc.kind !== 'PodMonitor').map((d) => strip(d.doc));
      const key = (d: Doc) => `${d.kind}/${d.metadata.name}`;
      expect(built.map(key).sort()).toEqual(expected.map(key).sort());
      for (const d of built) expect(d, key(d)).toEqual(expected.find((e) => key(e) === key(d)));
    });

    it('builds the PodMonitor variant through the component, without the ServiceMonitor', () => {
      writeFileSync(
        join(tmp.path, 'kustomization.yaml'),
        // kustomize takes relative paths only.
        stringify({
          apiVersion: 'kustomize.config.k8s.io/v1beta1',
          kind: 'Kustomization',
          resources: [relative(tmp.path, DIR)],
          components: [relative(tmp.path, join(DIR, 'components/podmonitor'))],
        }),
      );
      const kinds = build(tmp.path).map((d) => d.kind);
      expect(kinds).toContain('PodMonitor');
      expect(kinds).not.toContain('ServiceMonitor');
      expect(kinds).toContain('DaemonSet');
    });
  });
});

describe('deploy/kubernetes: the wiring', () => {
  const env = podEnv(NODE);
  const port = promedicConfig.listen.port;

  it("runs the image's own command as its user, from the directory where the config's relative paths and rules are", () => {
    expect(container.command).toBeUndefined();
    expect(container.args).toBeUndefined();
    expect(dockerfile.cmd).toMatch(/dist\/src\/cli\/index\.js", "start"\]$/);
    expect(dockerfile.user).toBe('node');
    // The rules the config names are the ones the image copies.
    expect(dockerfile.copies).toContain('rules ./rules');
    expect(promedicConfig.rules_dir).toBe(posix.join(dockerfile.workdir, 'rules'));
    expect(container.image).toMatch(/^promedic:\d+\.\d+\.\d+$/);
  });

  it('gives each pod the node name as identity, through the downward API', () => {
    expect(container.env.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    expect(env.PROMEDIC_INSTANCE).toBe(`node-a:${port}`);
    expect(env.PROMEDIC_LISTEN_ADDRESS).toBe('10.0.0.11');
    expect(env.PROMEDIC_CONFIG).toBe('/etc/promedic/promedic.yml');
  });

  it('mounts the ConfigMap where PROMEDIC_CONFIG points, and the token Secret where auth.token_file points', () => {
    const config = volumeAt(env.PROMEDIC_CONFIG as string);
    expect(config?.volume?.configMap?.name).toBe(configMap.metadata.name);
    expect(Object.keys(configMap.data)).toContain(config?.rest);
    const token = volumeAt(promedicConfig.auth.token_file);
    expect(token?.volume?.secret?.secretName).toBe('promedic-token');
    // The key of `kubectl create secret generic promedic-token --from-literal=token=...`.
    expect(token?.rest).toBe('token');
    expect(token?.mount.readOnly).toBe(true);
    // Readable by promedic's group (fsGroup), by no one else.
    const mode = token?.volume?.secret?.defaultMode as number;
    expect(mode & 0o040).toBe(0o040);
    expect(mode & 0o007).toBe(0);
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
  });

  it("mounts the node's /proc, /sys and / read-only where the config's paths look", () => {
    for (const [key, host] of [
      ['procfs', '/proc'],
      ['sysfs', '/sys'],
      ['rootfs', '/'],
    ] as const) {
      const m = mountOf(promedicConfig.paths[key]);
      expect(m, key).toBeDefined();
      expect(volumeOf(m?.name)?.hostPath?.path, key).toBe(host);
      expect(m?.readOnly, key).toBe(true);
    }
    expect(mountOf(promedicConfig.paths.rootfs)?.mountPropagation).toBe('HostToContainer');
  });

  it('runs non-root, read-only, with no capabilities, no privilege escalation and the runtime seccomp profile; writes only to its volumes', () => {
    const sc = container.securityContext;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 });
    expect(sc).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(sc.privileged).toBeUndefined();
    expect(sc.capabilities?.add).toBeUndefined();
    expect(sc.seccompProfile ?? pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    // The data dir and /tmp are writable volumes on a read-only root filesystem.
    for (const path of [promedicConfig.data_dir, '/tmp']) {
      const v = volumeAt(path);
      expect(v?.volume?.emptyDir, path).toBeDefined();
      expect(v?.mount.readOnly, path).toBeFalsy();
    }
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe(one('ServiceAccount').metadata.name);
  });

  it('asks the Service for no PROMEDIC_* link variables, which promedic would read as (unknown) settings', () => {
    expect(pod.enableServiceLinks).toBe(false);
    expect(serviceDoc.spec.clusterIP).toBe('None');
  });

  it('runs on every node, on the host network, resolving cluster Services', () => {
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(subset(daemonSet.spec.selector.matchLabels, daemonSet.spec.template.metadata.labels)).toBe(true);
  });

  it('has CPU and memory requests and limits, and a V8 heap below the memory limit', () => {
    for (const r of ['cpu', 'memory']) {
      expect(container.resources.requests[r], r).toBeDefined();
      expect(container.resources.limits[r], r).toBeDefined();
    }
    const mi = (q: string) => Number(/^(\d+)Mi$/.exec(q)?.[1]);
    const heap = Number(/--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS ?? '')?.[1]);
    expect(heap).toBeGreaterThan(0);
    expect(heap).toBeLessThan(mi(container.resources.limits.memory as string));
    expect(mi(container.resources.requests.memory as string)).toBeLessThanOrEqual(mi(container.resources.limits.memory as string));
  });

  it('agrees on one port: the config, the identity, the container, the probes, the Service and both monitors', () => {
    expect(container.ports.map((p) => p.containerPort)).toEqual([port]);
    expect(env.PROMEDIC_INSTANCE?.endsWith(`:${port}`)).toBe(true);
    expect(container.livenessProbe.httpGet.path).toBe('/-/healthy');
    expect(container.readinessProbe.httpGet.path).toBe('/-/ready');
    expect(containerPort(container.livenessProbe.httpGet.port)).toBe(port);
    expect(containerPort(container.readinessProbe.httpGet.port)).toBe(port);
    // The Service selects the pods and targets the port.
    expect(subset(serviceDoc.spec.selector, daemonSet.spec.template.metadata.labels)).toBe(true);
    const svcPort = serviceDoc.spec.ports[0];
    expect(serviceDoc.spec.ports).toHaveLength(1);
    expect(containerPort(svcPort?.targetPort as string)).toBe(port);
    // The ServiceMonitor selects the Service and scrapes its port; the PodMonitor the pods' port.
    expect(subset(serviceMonitor.spec.selector.matchLabels, serviceDoc.metadata.labels)).toBe(true);
    expect(serviceMonitor.spec.namespaceSelector?.matchNames).toContain(serviceDoc.metadata.namespace);
    expect(serviceMonitor.spec.endpoints?.map((e) => [e.port, e.path])).toEqual([[svcPort?.name, '/metrics']]);
    expect(subset(podMonitor.spec.selector.matchLabels, daemonSet.spec.template.metadata.labels)).toBe(true);
    expect(podMonitor.spec.namespaceSelector?.matchNames).toContain(daemonSet.metadata.namespace);
    expect(podMonitor.spec.podMetricsEndpoints?.map((e) => [containerPort(e.port), e.path])).toEqual([[port, '/metrics']]);
  });

  it("labels each node's series and alerts with the node's name as instance, which is in that node's promedic's scope and no other's", () => {
    const identity = (node: string) => ({ instance: podEnv({ ...NODE, 'spec.nodeName': node }).PROMEDIC_INSTANCE as string, labels: {} });
    for (const monitor of [serviceMonitor.spec.endpoints?.[0], podMonitor.spec.podMetricsEndpoints?.[0]]) {
      const target = relabel({ __address__: `10.0.0.11:${port}`, __meta_kubernetes_pod_node_name: 'node-a', __meta_kubernetes_pod_name: 'promedic-x7k2p' }, monitor?.relabelings);
      expect(target.instance).toBe('node-a');
      const alert = { alertname: 'HighCPUUsage', instance: target.instance as string };
      expect(outOfScope(promedicConfig.scope, alert, identity('node-a'))).toBeNull();
      expect(outOfScope(promedicConfig.scope, alert, identity('node-b'))).toMatch(/is not this host/);
    }
    expect(serviceMonitor.spec.endpoints?.[0]?.relabelings).toEqual(podMonitor.spec.podMetricsEndpoints?.[0]?.relabelings);
  });
});

describe("deploy/kubernetes: the ConfigMap's promedic.yml, as promedic reads it in the pod", () => {
  const dir = tempDir('promedic-kubernetes-');
  const configFile = join(dir.path, 'promedic.yml');
  const tokenFile = join(dir.path, 'token');
  /** The pod's environment, with the files the pod would have (Secret, image rules) at their paths here. */
  const env = () => ({
    ...podEnv(NODE),
    PROMEDIC_CONFIG: configFile,
    PROMEDIC_TOKEN_FILE: tokenFile,
    PROMEDIC_RULES_DIR: join(ROOT, 'rules'),
  });
  let running: Running | null = null;

  beforeAll(() => {
    writeFileSync(configFile, promedicYml);
    writeFileSync(tokenFile, `${'0123456789abcdef'.repeat(4)}\n`);
  });
  afterAll(async () => {
    await killAll();
    dir.cleanup();
  });

  it("passes promedic's config validation, in fleet mode with the node's identity and a scope", () => {
    const config = loadConfig({ env: env() });
    expect(config.fleet.enabled).toBe(true);
    expect(config.scope).toEqual({ instance: 'self' });
    expect(config.instance).toBe('node-a:9477');
    expect(config.listen).toEqual({ address: '10.0.0.11', port: 9477 });
    expect(config.paths).toEqual(promedicConfig.paths);
    // What `promedic start` refuses in fleet mode: a playbook acting on the host without a scope.
    const rules = loadRules(config.rules_dir);
    expect(rules.errors).toEqual([]);
    expect(rules.rules.playbooks.length).toBeGreaterThan(0);
    const identity = { instance: config.instance as string, labels: config.instance_labels };
    expect(fleetProblems(rules.rules.playbooks, { identity, scope: config.scope, fleet: config.fleet.enabled })).toEqual([]);
  });

  it('passes promedic check with the rules of the image', () => {
    const r = runCli(['check'], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^ok: [1-9]\d* playbooks?/);
    expect(r.code).toBe(0);
  });

  it('starts in fleet mode and answers the probes on their paths, the status naming the node', async () => {
    // The mounts give the node's /proc, /sys and / at the config's paths: here they are these.
    const local = parse(promedicYml) as Record<string, unknown>;
    local.paths = { procfs: '/proc', sysfs: '/sys', rootfs: '/' };
    const localFile = join(dir.path, 'promedic.local.yml');
    writeFileSync(localFile, stringify(local));
    running = await startCli(['--listen-address', '127.0.0.1', '--data-dir', join(dir.path, 'data')], { env: { ...env(), PROMEDIC_CONFIG: localFile } });
    const url = running.url;
    expect((await fetch(`${url}${container.livenessProbe.httpGet.path}`)).status).toBe(200);
    await waitFor(async () => (await fetch(`${url}${container.readinessProbe.httpGet.path}`)).status === 200, 20_000, 'promedic ready');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^node_memory_MemTotal_bytes \d/m);
    const token = readFileSync(tokenFile, 'utf8').trim();
    const status = (await (await fetch(`${url}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      instance: { name: string; scope: Scope; fleet: boolean };
    };
    expect(status.instance).toMatchObject({ name: 'node-a:9477', scope: { instance: 'self' }, fleet: true });
  });
});

describe('deploy/kubernetes/examples/alertmanager.yml', () => {
  const amtool = requireBinary('amtool', 'prometheus-alertmanager');
  const file = join(DIR, 'examples/alertmanager.yml');
  const config = parse(readFileSync(file, 'utf8')) as {
    route: { receiver: string };
    receivers: Array<{ name: string; webhook_configs: Array<{ url: string; send_resolved: boolean; http_config: { authorization: { type: string; credentials_file: string } } }> }>;
  };

  it.runIf(amtool)('passes amtool check-config', () => {
    const home = tempDir('promedic-k8s-amtool-');
    try {
      const r = spawnSync(amtool as string, ['check-config', file], { encoding: 'utf8', env: { ...process.env, HOME: home.path } });
      expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
      expect(r.status).toBe(0);
    } finally {
      home.cleanup();
    }
  });

  it("fans out to each node's promedic on its port, with the token the Prometheus Operator mounts from the promedic-token Secret", () => {
    const receiver = config.receivers.find((r) => r.name === config.route.receiver);
    expect(receiver?.webhook_configs.length).toBeGreaterThan(1);
    for (const w of receiver?.webhook_configs ?? []) {
      const u = new URL(w.url);
      expect(u.port).toBe(String(promedicConfig.listen.port));
      expect(u.pathname).toBe('/webhook/alertmanager');
      expect(w.send_resolved).toBe(true);
      expect(w.http_config.authorization).toEqual({ type: 'Bearer', credentials_file: '/etc/alertmanager/secrets/promedic-token/token' });
    }
  });
});
