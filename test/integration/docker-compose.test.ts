// docker/ checked without a Docker engine (this machine and CI have the CLI
// only): the compose file parsed and held to the settings the sidecar needs,
// the Dockerfile's stages, and docker/smb.conf against `stableid smb-conf`.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { smbConfSnippet } from '../../lib/cli/commands/smb-conf.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const docker = join(root, 'docker');

interface Volume {
  type?: string;
  source?: string;
  target?: string;
  read_only?: boolean;
  bind?: { propagation?: string };
}
interface Service {
  build?: { context?: string; dockerfile?: string };
  devices?: string[];
  cap_add?: string[];
  security_opt?: string[];
  volumes?: (Volume | string)[];
  healthcheck?: { test?: string[]; interval?: string; retries?: number };
  depends_on?: Record<string, { condition?: string }>;
  stop_signal?: string;
  stop_grace_period?: string;
}

const compose = parse(await readFile(join(docker, 'compose.yaml'), 'utf8')) as { services: Record<string, Service> };
const { stableid: sidecar, samba } = compose.services;
const has = async (bin: string, args: string[]) => run(bin, args, { timeout: 30_000 }).then(() => true, () => false);
const hasCompose = await has('docker-compose', ['version']);
const hasShellcheck = await has('shellcheck', ['--version']);
const hasTestparm = await has('testparm', ['--version']);

function mountAt(s: Service, target: string): Volume {
  const v = (s.volumes ?? []).find((x): x is Volume => typeof x === 'object' && x.target === target);
  if (!v) throw new Error(`docker/compose.yaml: no long-form volume with target ${target}`);
  return v;
}

test('the sidecar gets /dev/fuse, CAP_SYS_ADMIN and no AppArmor mount denial', (t) => {
  t.truthy(sidecar, 'a service named stableid');
  t.true(sidecar.devices?.some((d) => d.split(':')[0] === '/dev/fuse'), 'devices: /dev/fuse');
  t.true(sidecar.cap_add?.includes('SYS_ADMIN'), 'cap_add: SYS_ADMIN');
  t.true(sidecar.security_opt?.includes('apparmor:unconfined'), 'security_opt: apparmor:unconfined');
  t.is(sidecar.stop_signal ?? 'SIGTERM', 'SIGTERM');
  t.truthy(sidecar.stop_grace_period, 'time to unmount on docker stop');
});

test('the mountpoint is an rshared bind in the sidecar and an rslave bind of the same host dir in Samba', (t) => {
  const out = mountAt(sidecar, '/stable');
  t.is(out.type, 'bind');
  t.is(out.bind?.propagation, 'rshared', 'the FUSE mount must propagate out of the sidecar');
  const data = mountAt(sidecar, '/data');
  t.is(data.type, 'bind');
  const seen = mountAt(samba, '/stable');
  t.is(seen.type, 'bind');
  t.is(seen.source, out.source, 'Samba binds the very host directory the sidecar mounts on');
  t.regex(seen.bind?.propagation ?? '', /^r?(slave|shared)$/, 'propagation must carry the mount into Samba');
});

test('both containers have health checks that test the mount, and Samba waits for a healthy sidecar', (t) => {
  t.deepEqual(sidecar.healthcheck?.test, ['CMD', '/usr/local/bin/stableid-healthcheck', '/stable']);
  t.deepEqual(samba.healthcheck?.test?.slice(0, 3), ['CMD', '/usr/local/bin/stableid-healthcheck', '/stable']);
  t.true(samba.healthcheck?.test?.includes('--smb-port'), 'Samba is healthy only while smbd listens');
  t.is(samba.depends_on?.stableid?.condition, 'service_healthy');
  const script = mountAt(samba, '/usr/local/bin/stableid-healthcheck');
  t.is(script.source, './healthcheck.sh', 'the same script, bound into the Samba container');
  t.true(script.read_only);
  t.is(mountAt(samba, '/etc/samba/smb.conf').source, './smb.conf');
});

test('the Dockerfile builds the addon with libfuse3-dev and runs on a slim image with fuse3', async (t) => {
  t.is(sidecar.build?.dockerfile, 'docker/Dockerfile');
  t.is(sidecar.build?.context, '..');
  const text = await readFile(join(docker, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  t.is(stages.length, 2, 'two stages: build and runtime');
  t.regex(stages[0], /libfuse3-dev/);
  t.regex(stages[0], /npm run build/);
  t.regex(stages[1], /^\S+-slim\b/);
  t.regex(stages[1], /install[^\n]*\bfuse3\b/);
  t.notRegex(stages[1], /libfuse3-dev|build-essential/, 'no compilers in the runtime image');
  t.regex(stages[1], /ENTRYPOINT \["\/usr\/local\/bin\/stableid-entrypoint"\]/);
  t.regex(stages[1], /COPY docker\/entrypoint\.sh \/usr\/local\/bin\/stableid-entrypoint/);
  t.regex(stages[1], /COPY docker\/healthcheck\.sh \/usr\/local\/bin\/stableid-healthcheck/);
});

test('docker/smb.conf shares /stable with exactly the smb-conf snippet', async (t) => {
  const conf = await readFile(join(docker, 'smb.conf'), 'utf8');
  const section = conf.slice(conf.search(/^\[data\]/m));
  t.is(section.trim(), smbConfSnippet({ path: '/stable', share: 'data' }).trim());
});

(hasTestparm ? test : test.skip)(`testparm accepts docker/smb.conf${hasTestparm ? '' : ' (skipped: no testparm)'}`, async (t) => {
  const r = await run('testparm', ['-s', join(docker, 'smb.conf')], { timeout: 30_000 });
  t.notRegex(r.stderr, /unknown parameter|error/i, r.stderr);
  t.regex(r.stdout, /\[data\][^[]*path = \/stable/);
});

(hasCompose ? test : test.skip)(
  `docker-compose validates the file${hasCompose ? '' : ' (skipped: no docker-compose; apt-get install docker-compose)'}`,
  async (t) => {
    // `config` resolves and validates the file; it needs no engine.
    const r = await run('docker-compose', ['-f', join(docker, 'compose.yaml'), 'config'], {
      timeout: 60_000,
      env: { ...process.env, STABLEID_SOURCE: '/srv/data', STABLEID_MOUNTPOINT: '/srv/stable' },
    });
    const resolved = parse(r.stdout) as { services: Record<string, Service> };
    t.is(mountAt(resolved.services.stableid, '/stable').source, '/srv/stable');
    t.is(mountAt(resolved.services.stableid, '/stable').bind?.propagation, 'rshared');
  },
);

(hasShellcheck ? test : test.skip)(
  `shellcheck passes the entrypoint and the health check${hasShellcheck ? '' : ' (skipped: no shellcheck)'}`,
  async (t) => {
    const r = await run('shellcheck', ['-s', 'sh', join(docker, 'entrypoint.sh'), join(docker, 'healthcheck.sh')]).catch(
      (err: { stdout: string }) => ({ stdout: err.stdout, failed: true }),
    );
    t.false('failed' in r, r.stdout);
  },
);
