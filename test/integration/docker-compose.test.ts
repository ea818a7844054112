// docker/ checked as text, fast and without an engine: the compose file parsed
// and held to the settings the sidecar needs, the Dockerfiles' stages, and
// docker/smb.conf against `stableid smb-conf`. docker-stack.test.ts builds and
// runs all of it with podman.
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
  image?: string;
  environment?: Record<string, string>;
  ports?: (string | { host_ip?: string; published?: string | number; target?: number })[];
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

test('the sidecar gets /dev/fuse, CAP_SYS_ADMIN, no AppArmor mount denial, and allow_other for Samba users', (t) => {
  t.truthy(sidecar, 'a service named stableid');
  t.true(sidecar.devices?.some((d) => d.split(':')[0] === '/dev/fuse'), 'devices: /dev/fuse');
  t.true(sidecar.cap_add?.includes('SYS_ADMIN'), 'cap_add: SYS_ADMIN');
  t.true(sidecar.security_opt?.includes('apparmor:unconfined'), 'security_opt: apparmor:unconfined');
  t.is(sidecar.stop_signal ?? 'SIGTERM', 'SIGTERM');
  t.truthy(sidecar.stop_grace_period, 'time to unmount on docker stop');
  t.is(sidecar.environment?.STABLEID_OPTIONS, 'allow_other', 'non-root Samba users reach the mount');
});

test('the sidecar mounts inside an rshared bind of a host directory that Samba binds rslave', (t) => {
  const out = mountAt(sidecar, '/shared');
  t.is(out.type, 'bind');
  t.is(out.bind?.propagation, 'rshared', 'the FUSE mount must propagate out of the sidecar');
  const mnt = sidecar.environment?.STABLEID_MNT ?? '';
  t.true(mnt.startsWith('/shared/') && mnt.length > '/shared/'.length, `MNT ${mnt} is inside the bind, never the bind itself`);
  t.is(mountAt(sidecar, '/data').type, 'bind');
  const seen = mountAt(samba, '/shared');
  t.is(seen.type, 'bind');
  t.is(seen.source, out.source, 'Samba binds the very host directory the sidecar mounts in');
  t.regex(seen.bind?.propagation ?? '', /^r?slave$/, 'Samba receives the mount and sends nothing back');
});

test('both containers have health checks that test the mount, and Samba waits for a healthy sidecar', async (t) => {
  t.deepEqual(sidecar.healthcheck?.test, ['CMD', '/usr/local/bin/stableid-healthcheck', '/shared/stable', '--shared']);
  t.deepEqual(samba.healthcheck?.test, ['CMD', '/usr/local/bin/stableid-healthcheck', '/shared/stable', '--smb-port', '445']);
  t.is(samba.depends_on?.stableid?.condition, 'service_healthy');
  const file = await readFile(join(docker, 'samba.Dockerfile'), 'utf8');
  t.regex(file, /^COPY healthcheck\.sh \/usr\/local\/bin\/stableid-healthcheck$/m, 'the same script, in the Samba image');
  t.is(mountAt(samba, '/etc/samba/smb.conf').source, './smb.conf');
});

test('Samba users and the id table live in volumes; SMB is published on loopback unless told otherwise', async (t) => {
  t.true(samba.volumes?.includes('samba-users:/var/lib/extrausers'), 'Unix accounts of Samba users survive recreating the container');
  t.true(samba.volumes?.includes('samba-state:/var/lib/samba'), 'the passdb too');
  t.true(sidecar.volumes?.includes('stableid-state:/var/lib/stableid'), 'the state-file table, when SRC cannot hold xattrs');
  const file = await readFile(join(docker, 'samba.Dockerfile'), 'utf8');
  t.regex(file, /libnss-extrausers/);
  t.regex(file, /nsswitch\.conf/);
  t.deepEqual(samba.ports, ['${STABLEID_SMB_ADDRESS:-127.0.0.1}:${STABLEID_SMB_PORT:-445}:445']);
});

test('the Dockerfile builds the addons with build-essential (linux/fuse.h, no libfuse) and its own node headers, and runs on a slim image with fuse3', async (t) => {
  t.is(sidecar.build?.dockerfile, 'docker/Dockerfile');
  t.is(sidecar.build?.context, '..');
  const text = await readFile(join(docker, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  t.is(stages.length, 2, 'two stages: build and runtime');
  t.regex(stages[0], /install[^\n]*\bbuild-essential\b/);
  t.notRegex(stages[0], /libfuse3-dev/, 'the FUSE addon speaks the kernel protocol itself');
  t.regex(stages[0], /^ENV npm_config_nodedir=\/usr\/local$/m, 'node-gyp must not download headers');
  t.regex(stages[0], /npm run build/);
  t.regex(stages[1], /^\S+-slim\b/);
  t.regex(stages[1], /install[^\n]*\bfuse3\b/);
  t.notRegex(stages[1], /libfuse3-dev|build-essential/, 'no compilers in the runtime image');
  t.regex(stages[1], /ENTRYPOINT \["\/usr\/local\/bin\/stableid-entrypoint"\]/);
  t.regex(stages[1], /COPY docker\/entrypoint\.sh \/usr\/local\/bin\/stableid-entrypoint/);
  t.regex(stages[1], /COPY docker\/healthcheck\.sh \/usr\/local\/bin\/stableid-healthcheck/);
  t.regex(stages[1], /STABLEID_MNT=\/shared\/stable/);
});

test('docker/smb.conf shares /shared/stable with the smb-conf snippet, refused while the mount is not there', async (t) => {
  const conf = await readFile(join(docker, 'smb.conf'), 'utf8');
  const section = conf.slice(conf.search(/^\[data\]/m)).trim();
  const snippet = smbConfSnippet({ path: '/shared/stable', share: 'data' }).trim();
  t.true(section.startsWith(snippet), 'the [data] section starts with `stableid smb-conf /shared/stable --share data`');
  const extra = section
    .slice(snippet.length)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  t.deepEqual(extra, ['root preexec = /usr/local/bin/stableid-healthcheck /shared/stable', 'root preexec close = yes']);
});

(hasTestparm ? test : test.skip)(`testparm accepts docker/smb.conf${hasTestparm ? '' : ' (skipped: no testparm)'}`, async (t) => {
  const r = await run('testparm', ['-s', join(docker, 'smb.conf')], { timeout: 30_000 });
  t.notRegex(r.stderr, /unknown parameter|error/i, r.stderr);
  t.regex(r.stdout, /\[data\][^[]*path = \/shared\/stable/);
});

(hasCompose ? test : test.skip)(
  `docker-compose validates the file${hasCompose ? '' : ' (skipped: no docker-compose; apt-get install docker-compose)'}`,
  async (t) => {
    // `config` resolves and validates the file; it needs no engine.
    const r = await run('docker-compose', ['-f', join(docker, 'compose.yaml'), 'config'], {
      timeout: 60_000,
      env: { ...process.env, STABLEID_SOURCE: '/srv/data', STABLEID_DIR: '/srv/stableid' },
    });
    const resolved = parse(r.stdout) as { services: Record<string, Service> };
    t.is(mountAt(resolved.services.stableid, '/shared').source, '/srv/stableid');
    t.is(mountAt(resolved.services.stableid, '/shared').bind?.propagation, 'rshared');
    t.is(mountAt(resolved.services.samba, '/shared').source, '/srv/stableid');
    t.is(resolved.services.stableid.image, 'stableid:local');
    // Left alone, SMB is published on 127.0.0.1 only.
    t.regex(JSON.stringify(resolved.services.samba.ports), /127\.0\.0\.1:445:445/);
  },
);

(hasShellcheck ? test : test.skip)(
  `shellcheck passes the container scripts${hasShellcheck ? '' : ' (skipped: no shellcheck)'}`,
  async (t) => {
    const scripts = ['entrypoint.sh', 'healthcheck.sh', 'samba-adduser.sh'].map((f) => join(docker, f));
    const r = await run('shellcheck', ['-s', 'sh', ...scripts, join(root, 'test', 'helpers', 'podman-base-images.sh')]).catch(
      (err: { stdout: string }) => ({ stdout: err.stdout, failed: true }),
    );
    t.false('failed' in r, r.stdout);
  },
);
