import { describe, expect, it } from 'vitest';
import { formatValue, render } from '../../src/metrics/exposition.js';

describe('exposition renderer', () => {
  it('sorts families by name and escapes HELP text and label values', () => {
    const text = render([
      { name: 'b_metric', help: 'second', type: 'gauge', samples: [{ value: 2 }] },
      {
        name: 'a_metric',
        help: 'has \\ and\nnewline',
        type: 'counter',
        samples: [{ labels: { path: 'C:\\x "q"\nz', a: '1' }, value: 1 }],
      },
    ]);
    expect(text).toBe(
      '# HELP a_metric has \\\\ and\\nnewline\n# TYPE a_metric counter\na_metric{a="1",path="C:\\\\x \\"q\\"\\nz"} 1\n' +
        '# HELP b_metric second\n# TYPE b_metric gauge\nb_metric 2\n',
    );
  });

  it('merges families of the same name and drops duplicate series, which Prometheus would reject', () => {
    const text = render([
      { name: 'm', help: 'h', type: 'gauge', samples: [{ labels: { x: '1' }, value: 1 }] },
      { name: 'm', help: 'h', type: 'gauge', samples: [{ labels: { x: '1' }, value: 9 }, { labels: { x: '2' }, value: 2 }] },
    ]);
    expect(text.match(/^# TYPE m gauge$/gm)).toHaveLength(1);
    expect(text).toContain('m{x="1"} 1\n');
    expect(text).toContain('m{x="2"} 2\n');
    expect(text).not.toContain('m{x="1"} 9');
  });

  it('leaves out families with no samples, and formats special values as Prometheus does', () => {
    expect(render([{ name: 'empty', help: 'h', type: 'gauge', samples: [] }])).toBe('');
    expect([NaN, Infinity, -Infinity, 0.1, 1e21].map(formatValue)).toEqual(['NaN', '+Inf', '-Inf', '0.1', '1e+21']);
  });
});
