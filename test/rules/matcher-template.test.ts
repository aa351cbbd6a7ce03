import { describe, expect, it } from 'vitest';
import { classify } from '../../src/engine/classify.js';
import { backoffMs } from '../../src/engine/plan.js';
import { matches, parseMatcher } from '../../src/rules/matcher.js';
import { checkPromql } from '../../src/rules/promql.js';
import { checkTemplate, checkUrlTemplate, render, renderHeader, renderUrl, type TemplateVars } from '../../src/rules/template.js';
import { promqlString } from '../../src/actions/query.js';
import { fingerprintOf } from '../../src/alert.js';

const vars = (labels: Record<string, string>): TemplateVars => ({ labels, annotations: {}, alert: {}, run: {}, playbook: {}, env: {} });

describe('label matchers', () => {
  it('parses the four Alertmanager operators, quoted or not', () => {
    expect(parseMatcher('alertname="DbDown"')).toMatchObject({ name: 'alertname', op: '=', value: 'DbDown' });
    expect(parseMatcher(' severity =~ "warning|critical" ')).toMatchObject({ op: '=~', value: 'warning|critical' });
    expect(parseMatcher("env!~'dev.*'")).toMatchObject({ op: '!~', value: 'dev.*' });
    expect(parseMatcher('service!=')).toMatchObject({ op: '!=', value: '' });
    expect(parseMatcher('a="say \\"hi\\""').value).toBe('say "hi"');
  });

  it('anchors regexes and treats a missing label as empty, as Alertmanager does', () => {
    expect(matches(parseMatcher('a=~"b"'), { a: 'abc' })).toBe(false);
    expect(matches(parseMatcher('a=~"a.*"'), { a: 'abc' })).toBe(true);
    expect(matches(parseMatcher('a!=""'), {})).toBe(false);
    expect(matches(parseMatcher('a=""'), {})).toBe(true);
    expect(matches(parseMatcher('a!~"x|y"'), { a: 'z' })).toBe(true);
  });

  it('rejects malformed matchers and bad regexes with a message', () => {
    expect(() => parseMatcher('alertname')).toThrow(/invalid matcher/);
    expect(() => parseMatcher('a=~"("')).toThrow(/invalid regex/);
  });
});

describe('templating renders data, never code', () => {
  it('fills references, and refuses unknown ones at load time', () => {
    expect(render('host {{ labels.instance }}!', vars({ instance: 'h1' }))).toBe('host h1!');
    expect(checkTemplate('{{ labels.x }} {{ alert.status }}')).toEqual([]);
    expect(checkTemplate('{{ secrets.x }}')[0]).toMatch(/unknown template root/);
    expect(checkTemplate('{{ alert.nope }}')[0]).toMatch(/unknown alert field/);
    expect(checkTemplate('{{ labels.x | upper }}')[0]).toMatch(/malformed template/);
    expect(checkTemplate('{{ constructor.constructor }}')[0]).toMatch(/unknown template root/);
  });

  it('fails a step, rather than guess, when a referenced label is missing', () => {
    expect(() => render('{{ labels.instance }}', vars({}))).toThrow(/has no label "instance"/);
  });

  it('never re-evaluates rendered values', () => {
    expect(render('{{ labels.a }}', vars({ a: '{{ env.HOME }}' }))).toBe('{{ env.HOME }}');
  });

  it('keeps a URL\'s origin literal and percent-encodes values in the path and query', () => {
    expect(checkUrlTemplate('http://{{ labels.host }}/x')[0]).toMatch(/host and port must be literal/);
    expect(checkUrlTemplate('file:///etc/passwd')[0]).toMatch(/must start with http/);
    const u = renderUrl('http://127.0.0.1:8080/svc/{{ labels.s }}?q={{ labels.q }}', vars({ s: '../admin', q: 'a&b=c#d' }));
    expect(u.toString()).toBe('http://127.0.0.1:8080/svc/..%2Fadmin?q=a%26b%3Dc%23d');
    expect(renderUrl('http://h.example/{{ labels.x }}', vars({ x: '@evil.example' })).host).toBe('h.example');
  });

  it('refuses header values that would add a header', () => {
    expect(() => renderHeader('x {{ labels.a }}', vars({ a: 'v\r\nX-Admin: 1' }))).toThrow(/line break/);
  });

  it('escapes values placed into PromQL string literals', () => {
    expect(promqlString('a"} or vector(1) or {x="')).toBe('a\\"} or vector(1) or {x=\\"');
    expect(checkPromql('up{job="{{ labels.job }}"} == 1')).toBeNull();
    expect(checkPromql('rate(x[5m]')).toMatch(/syntax error at column/);
  });
});

describe('classification', () => {
  it('prefers the playbook category, then the category label, then rules, then the alert name', () => {
    expect(classify({ alertname: 'X', category: 'api' }, { playbookCategory: 'database' }).category).toBe('database');
    expect(classify({ alertname: 'X', category: 'API' }).category).toBe('api');
    expect(classify({ alertname: 'PostgresDown' }).category).toBe('database');
    expect(classify({ alertname: 'HighMemoryUsage' }).category).toBe('memory');
    expect(classify({ alertname: 'HighLatency' }).category).toBe('performance');
    expect(classify({ alertname: 'NodeFilesystemAlmostFull' }).category).toBe('host');
    expect(classify({ alertname: 'Mystery' })).toEqual({ category: 'other', severity: 'warning' });
    expect(classify({ alertname: 'X', severity: 'Critical' }).severity).toBe('critical');
  });
});

describe('retry backoff and fingerprints', () => {
  it('doubles from initial up to max', () => {
    const r = { backoff: 'exponential' as const, initialMs: 100, maxMs: 500 };
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(r, n))).toEqual([100, 200, 400, 500, 500]);
    expect(backoffMs({ ...r, backoff: 'constant' }, 4)).toBe(100);
  });

  it('computes Alertmanager\'s fingerprint (FNV-1a 64 over sorted labels)', () => {
    // Same labels in any order give the same fingerprint; different labels differ.
    expect(fingerprintOf({ a: '1', b: '2' })).toBe(fingerprintOf({ b: '2', a: '1' }));
    expect(fingerprintOf({ a: '1' })).not.toBe(fingerprintOf({ a: '2' }));
    expect(fingerprintOf({})).toBe('cbf29ce484222325');
    // As computed by Alertmanager 0.25 for this label set.
    expect(fingerprintOf({ alertname: 'PromedicE2E', service: 'billing', severity: 'critical' })).toBe('f7d670f1f8760fcd');
  });
});
