import type { TemplateVars } from '../rules/template.js';
import { DURATION_PATTERN, parseDuration } from '../util/duration.js';
import { type ActionType, sleep } from './types.js';

/** `wait: 30s` — give a fix time to take effect before the next step. */
export const wait: ActionType = {
  type: 'wait',
  check(args) {
    if (typeof args !== 'string' || !new RegExp(DURATION_PATTERN).test(args)) return [{ path: [], message: 'must be a duration such as 10s' }];
    return [];
  },
  render: (args: unknown, _vars: TemplateVars) => ({ ms: parseDuration(args as string) }),
  async run(rendered, ctx) {
    await sleep((rendered as { ms: number }).ms, ctx.signal);
    return { output: `waited ${(rendered as { ms: number }).ms}ms` };
  },
};
