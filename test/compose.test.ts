// No Docker engine runs in CI, so docker-compose.yml, the Dockerfile and .dockerignore are checked
// statically: the compose file is well-formed and wired (images, dependencies, environment), every
// file the image and the services run exists, and nothing drifts from the code (search attributes,
// configuration variables, worker names). The README's quick start and configuration table are held
// to the same standard.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { TASK_QUEUES } from '../domain/task-queues';

const ROOT = path.resolve(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[]; // compose: scalars or null
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: Array<string | number>;
}

// Compose accepts YAML merge keys (`<<: *anchor`); the yaml package resolves them when asked.
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => {
      const i = entry.indexOf('=');
      return i < 0 ? [entry, ''] : [entry.slice(0, i), entry.slice(i + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v ?? '')]));
}

function dependsOn(service: Service): string[] {
  const d = service.depends_on ?? [];
  return Array.isArray(d) ? d : Object.keys(d);
}

const argv = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value.map(String) : value.split(/\s+/).filter(Boolean);

/** Services that run Keel's own image (built from the Dockerfile). */
const keelServices = Object.entries(services).filter(([, s]) => s.build !== undefined);

/** The variable names config/env.ts knows: the keys of its EnvSchema object (it is not exported). */
function knownEnvNames(): Set<string> {
  const text = read('config/env.ts');
  const start = text.indexOf('const EnvSchema = z.object({');
  if (start < 0) throw new Error('config/env.ts: `const EnvSchema = z.object({` not found; update this test');
  const end = text.indexOf('\n});', start);
  const body = text.slice(start, end);
  return new Set([...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*)\s*:/gm)].map((m) => m[1]));
}

/** Arguments that name a file of this repository (relative paths with an extension we run). */
function repoFiles(args: string[]): string[] {
  return args.filter((a) => /^[\w./-]+\.(ts|js|mjs|cjs)$/.test(a) && !a.startsWith('/'));
}

/** Checks a service or image command: files exist, `npm run X` names a script in package.json. */
function expectRunnable(args: string[], where: string): void {
  expect({ where, args, length: args.length > 0 }).toEqual({ where, args, length: true });
  for (const file of repoFiles(args)) {
    expect({ where, file, exists: fs.existsSync(path.join(ROOT, file)) }).toEqual({ where, file, exists: true });
  }
  const run = args.indexOf('run');
  if (args[0] === 'npm' && run >= 0) {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect({ where, script: args[run + 1], defined: args[run + 1] in scripts }).toEqual({ where, script: args[run + 1], defined: true });
  }
}

interface DockerInstruction {
  keyword: string;
  args: string;
}

function dockerInstructions(): DockerInstruction[] {
  const lines = read('Dockerfile')
    .replace(/\\\r?\n/g, ' ') // line continuations
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return lines.map((l) => {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    return { keyword: m[1].toUpperCase(), args: m[2] };
  });
}

/** Exec form (`["a", "b"]`) or shell form of CMD/ENTRYPOINT as an argument list. */
function execForm(args: string): string[] {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
}

describe('docker-compose.yml', () => {
  test('has the production services', () => {
    for (const name of ['postgres', 'temporal', 'temporal-ui', 'migrate', 'api', 'bookings-worker', 'notifications-worker', 'ops-worker']) {
      expect(Object.keys(services)).toContain(name);
    }
    expect(services.postgres.image).toMatch(/^postgres:16/);
    expect(services.temporal.image).toMatch(/^temporalio\/auto-setup:/);
    expect(environment(services.temporal).DB).toBe('postgres12');
    expect(services['temporal-ui'].ports?.map(String)).toContain('8233:8080');
  });

  test('every service has an image or a build, and every dependency exists', () => {
    for (const [name, service] of Object.entries(services)) {
      expect({ name, runnable: Boolean(service.image || service.build) }).toEqual({ name, runnable: true });
      for (const dep of dependsOn(service)) {
        expect({ name, dep, exists: dep in services }).toEqual({ name, dep, exists: true });
        expect(dep).not.toBe(name);
      }
    }
  });

  test('the API waits for the migration to complete and for a healthy Temporal; one-shots are one-shots', () => {
    const deps = services.api.depends_on as Record<string, { condition?: string }>;
    expect(deps.migrate?.condition).toBe('service_completed_successfully');
    expect(deps.temporal?.condition).toBe('service_healthy');
    expect(argv(services.migrate.command)).toEqual(['npm', 'run', 'db:migrate']);
    expect((services.postgres as { healthcheck?: unknown }).healthcheck).toBeDefined();
    expect((services.temporal as { healthcheck?: unknown }).healthcheck).toBeDefined();
  });

  test('the API and the workers get DATABASE_URL and TEMPORAL_ADDRESS pointing at the compose services', () => {
    for (const name of ['api', 'bookings-worker', 'notifications-worker']) {
      const env = environment(services[name]);
      expect({ name, db: env.DATABASE_URL }).toEqual({ name, db: expect.stringMatching(/^postgres(ql)?:\/\/[^@]+@postgres:5432\//) });
      expect({ name, temporal: env.TEMPORAL_ADDRESS }).toEqual({ name, temporal: 'temporal:7233' });
    }
    expect(environment(services.migrate).DATABASE_URL).toBe(environment(services.api).DATABASE_URL);
    expect(environment(services.api).PORT).toBe('3000');
    expect(environment(services.api).KEEL_API_KEYS).toBeTruthy();
  });

  test('the workers split the task queues between them and cover all of them', () => {
    const hosted = (name: string) => environment(services[name]).KEEL_WORKERS.split(',').map((s) => s.trim());
    // Booking transitions share their process with nothing else.
    expect(hosted('bookings-worker')).toEqual(['bookings']);
    expect(hosted('ops-worker')).toEqual(['incidents', 'ops']);
    expect(hosted('notifications-worker')).toEqual(['notifications']);
    const all = ['bookings-worker', 'notifications-worker', 'ops-worker'].flatMap(hosted);
    for (const q of all) expect(TASK_QUEUES).toContain(q);
    expect(new Set(all)).toEqual(new Set(TASK_QUEUES));
  });

  test('every variable passed to a Keel process is one config/env.ts knows', () => {
    const known = knownEnvNames();
    // Guard against the parser silently finding nothing.
    for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'PORT', 'KEEL_WORKERS']) expect(known).toContain(name);
    expect(keelServices.map(([n]) => n).sort()).toEqual(['api', 'bookings-worker', 'migrate', 'notifications-worker', 'ops-worker']);
    for (const [name, service] of keelServices) {
      const unknown = Object.keys(environment(service)).filter((v) => !known.has(v));
      expect({ name, unknown }).toEqual({ name, unknown: [] });
    }
  });

  test("the search attribute job registers every one of Keel's search attributes with its type", () => {
    const job = Object.entries(services).find(([, s]) => /temporalio\/admin-tools/.test(s.image ?? ''));
    expect(job).toBeDefined();
    const [jobName, service] = job!;
    const text = [...argv(service.entrypoint), ...argv(service.command)].join(' ');
    expect(text).toMatch(/temporal operator search-attribute create/);
    for (const { name, cliType } of SEARCH_ATTRIBUTES) {
      expect({ name, registered: text.includes(`--name ${name} --type ${cliType}`) }).toEqual({ name, registered: true });
    }
    // Whoever writes search attributes must not start before they exist.
    for (const name of ['api', 'bookings-worker']) {
      expect({ name, waitsFor: dependsOn(services[name]).includes(jobName) }).toEqual({ name, waitsFor: true });
    }
  });

  test('the commands of Keel services run files and npm scripts that exist', () => {
    for (const [name, service] of keelServices) {
      expectRunnable([...argv(service.entrypoint), ...argv(service.command)], `service ${name}`);
    }
  });
});

describe('Dockerfile', () => {
  const instructions = dockerInstructions();

  test('is based on node:20-slim and generates the Prisma client with the offline script', () => {
    const froms = instructions.filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(f.args).toMatch(/^node:20-slim\b/);
    const runs = instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/node scripts\/prisma-generate\.js/);
  });

  test('its CMD/ENTRYPOINT run files that exist', () => {
    const finalStage = instructions.slice(instructions.map((i) => i.keyword).lastIndexOf('FROM'));
    const last = (kw: string) => finalStage.filter((i) => i.keyword === kw).pop();
    const entry = last('ENTRYPOINT');
    const cmd = last('CMD');
    expect(entry ?? cmd).toBeDefined();
    const args = [...(entry ? execForm(entry.args) : []), ...(cmd ? execForm(cmd.args) : [])];
    expect(repoFiles(args).length).toBeGreaterThan(0);
    expectRunnable(args, 'Dockerfile');
  });

  test('everything it COPYs from the build context exists and is not excluded by .dockerignore', () => {
    const ignored = read('.dockerignore')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const isIgnored = (p: string) =>
      ignored.some((pattern) => {
        const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`);
        return re.test(p);
      });
    const copies = instructions.filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) {
        if (source === '.') continue;
        expect({ source, exists: fs.existsSync(path.join(ROOT, source)) }).toEqual({ source, exists: true });
        expect({ source, ignored: isIgnored(source.replace(/^\.\//, '').replace(/\/$/, '')) }).toEqual({ source, ignored: false });
      }
    }
    // The image must never carry local state, secrets or a host's node_modules.
    for (const p of ['node_modules', '.data', '.env', '.git', '.tools']) expect(isIgnored(p)).toBe(true);
  });
});

describe('README.md', () => {
  const readme = read('README.md');

  test('the quick start is the two commands a fresh clone needs (CI runs the second one verbatim)', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1));
    const commands = [...quickStart.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trim());
    expect(commands).toEqual(['npm ci && npm run dev', 'npm ci && npm test']);
    expect(read('.ci/run')).toContain('npm ci && npm test');
  });

  test('the configuration table documents every variable of config/env.ts', () => {
    const documented = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]));
    const missing = [...knownEnvNames()].filter((name) => !documented.has(name));
    expect(missing).toEqual([]);
  });
});
