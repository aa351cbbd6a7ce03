import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { tempDir } from './helpers/index.js';

let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => dir.cleanup());

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('runs on its embedded defaults with no file, env or flags', () => {
    const c = loadConfig({ cwd: dir.path, env: {} });
    expect(c.listen).toEqual({ address: '127.0.0.1', port: DEFAULTS.listen.port });
    expect(c.data_dir).toBe(join(dir.path, 'data'));
    expect(c.rules_dir).toBe(join(dir.path, 'rules'));
    expect(c.intervalMs).toBe(5000);
    expect(c.log.level).toBe('info');
    expect(c.token).toBeNull();
    expect(c.configFile).toBeNull();
  });

  it('reads ./promedic.yml when present, then env overrides it, then flags override both', () => {
    writeFileSync(join(dir.path, 'promedic.yml'), 'listen:\n  port: 9001\ndata_dir: /var/lib/x\nlog:\n  level: warn\n');
    const fileOnly = loadConfig({ cwd: dir.path, env: {} });
    expect(fileOnly.listen.port).toBe(9001);
    expect(fileOnly.log.level).toBe('warn');
    expect(fileOnly.configFile).toBe(join(dir.path, 'promedic.yml'));

    const withEnv = loadConfig({ cwd: dir.path, env: { PROMEDIC_PORT: '9002', PROMEDIC_LOG_LEVEL: 'debug' } });
    expect(withEnv.listen.port).toBe(9002);
    expect(withEnv.data_dir).toBe('/var/lib/x');
    expect(withEnv.sources['listen.port']).toBe('env PROMEDIC_PORT');

    const withFlags = loadConfig({ cwd: dir.path, env: { PROMEDIC_PORT: '9002' }, flags: { port: '9003', 'data-dir': 'd' } });
    expect(withFlags.listen.port).toBe(9003);
    expect(withFlags.data_dir).toBe(join(dir.path, 'd'));
    expect(withFlags.log.level).toBe('warn');
  });

  it('reports every bad field together, each with its path and file:line', () => {
    const file = join(dir.path, 'bad.yml');
    writeFileSync(
      file,
      ['listen:', '  port: 99999', 'colection:', '  interval: 5s', 'collection:', '  interval: soon', 'log:', '  level: loud', ''].join('\n'),
    );
    const p = problems(() => loadConfig({ cwd: dir.path, env: {}, configFile: file }));
    expect(p).toEqual(
      expect.arrayContaining([
        `${file}:2: listen.port: must be <= 65535`,
        `${file}:3: colection: unknown key`,
        `${file}:6: collection.interval: must be a duration such as 500ms, 5s, 1m30s`,
        expect.stringMatching(new RegExp(`^${file}:8: log.level: must be one of: trace, debug, info`)),
      ]),
    );
    expect(p).toHaveLength(4);
  });

  it('names the environment variable a bad value came from, and refuses unknown PROMEDIC_* variables', () => {
    const p = problems(() => loadConfig({ cwd: dir.path, env: { PROMEDIC_PORT: 'eighty', PROMEDIC_PROT: '1' } }));
    expect(p).toEqual(
      expect.arrayContaining([
        'env PROMEDIC_PORT: listen.port: must be integer',
        expect.stringMatching(/^env PROMEDIC_PROT: unknown variable/),
      ]),
    );
  });

  it('names the flag a bad value came from', () => {
    expect(problems(() => loadConfig({ cwd: dir.path, env: {}, flags: { 'log-level': 'chatty' } }))).toEqual([
      expect.stringMatching(/^flag --log-level: log\.level: must be one of/),
    ]);
  });

  it('rejects an invalid regular expression with its path', () => {
    const file = join(dir.path, 'promedic.yml');
    writeFileSync(file, 'collection:\n  filesystem:\n    mount_points_exclude: "^(/proc"\n');
    expect(problems(() => loadConfig({ cwd: dir.path, env: {} }))).toEqual([
      `${file}:3: collection.filesystem.mount_points_exclude: must be a valid regular expression`,
    ]);
  });

  it('fails clearly on a missing or unreadable config file, and on invalid YAML', () => {
    expect(problems(() => loadConfig({ cwd: dir.path, env: {}, configFile: 'nope.yml' }))).toEqual([
      `config file ${join(dir.path, 'nope.yml')}: cannot read: no such file`,
    ]);
    expect(problems(() => loadConfig({ cwd: dir.path, env: {}, configFile: dir.path }))[0]).toMatch(/cannot read: EISDIR/);
    const bad = join(dir.path, 'broken.yml');
    writeFileSync(bad, 'listen:\n  port: [1,\n');
    expect(problems(() => loadConfig({ cwd: dir.path, env: {}, configFile: bad }))[0]).toMatch(
      new RegExp(`^${bad}:\\d+: invalid YAML`),
    );
    const list = join(dir.path, 'list.yml');
    writeFileSync(list, '- a\n- b\n');
    expect(problems(() => loadConfig({ cwd: dir.path, env: {}, configFile: list }))[0]).toMatch(/must be a YAML mapping/);
  });

  it('accepts an empty config file', () => {
    const file = join(dir.path, 'empty.yml');
    writeFileSync(file, '# nothing set\n');
    expect(loadConfig({ cwd: dir.path, env: {}, configFile: file }).listen.port).toBe(DEFAULTS.listen.port);
  });

  it('takes the token from PROMEDIC_TOKEN or a token file, and then listens beyond loopback by default', () => {
    const t = loadConfig({ cwd: dir.path, env: { PROMEDIC_TOKEN: 's3cret-s3cret-s3cret' } });
    expect(t.token).toBe('s3cret-s3cret-s3cret');
    expect(t.listen.address).toBe('0.0.0.0');

    writeFileSync(join(dir.path, 'token'), 'from-a-file-0123456789\n');
    const f = loadConfig({ cwd: dir.path, env: {}, flags: { 'token-file': 'token' } });
    expect(f.token).toBe('from-a-file-0123456789');

    expect(problems(() => loadConfig({ cwd: dir.path, env: {}, flags: { 'token-file': 'missing' } }))[0]).toMatch(
      /^flag --token-file: auth.token_file: cannot read .*missing: ENOENT/,
    );
    expect(problems(() => loadConfig({ cwd: dir.path, env: { PROMEDIC_TOKEN: 'short' } }))[0]).toMatch(
      /auth.token: must NOT have fewer than 16 characters/,
    );
  });

  it('keeps an explicit listen address even with credentials', () => {
    const c = loadConfig({ cwd: dir.path, env: { PROMEDIC_TOKEN: 's3cret-s3cret-s3cret', PROMEDIC_LISTEN_ADDRESS: '127.0.0.2' } });
    expect(c.listen.address).toBe('127.0.0.2');
  });

  it('refuses to listen beyond loopback without credentials', () => {
    expect(problems(() => loadConfig({ cwd: dir.path, env: { PROMEDIC_LISTEN_ADDRESS: '0.0.0.0' } }))).toEqual([
      expect.stringMatching(/^env PROMEDIC_LISTEN_ADDRESS: listen\.address: 0\.0\.0\.0 is reachable from other hosts, which needs credentials/),
    ]);
    expect(loadConfig({ cwd: dir.path, env: { PROMEDIC_LISTEN_ADDRESS: '127.0.0.2' } }).listen.address).toBe('127.0.0.2');
  });
});
