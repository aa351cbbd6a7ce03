import { checkTemplate, type TemplateVars } from '../rules/template.js';
import { type RenderedHttp, checkHttpArgs, renderHttp, send } from './http.js';
import { type ActionType, excerpt, isObject } from './types.js';

/**
 * `notify: {url, text}` — POSTs a Slack-compatible JSON message ({"text": ...}) to a webhook
 * from the playbook. `body` replaces the default message for other chat tools.
 */
export const notify: ActionType = {
  type: 'notify',
  check(args) {
    const p = checkHttpArgs(args, ['text']);
    if (isObject(args) && args.text !== undefined) {
      if (typeof args.text !== 'string') p.push({ path: ['text'], message: 'must be a string' });
      else for (const m of checkTemplate(args.text)) p.push({ path: ['text'], message: m });
    }
    if (isObject(args) && args.text === undefined && args.body === undefined) p.push({ path: ['text'], message: 'is required (or give a body)' });
    return p;
  },
  render(args: unknown, vars: TemplateVars): RenderedHttp {
    const a = args as { text?: string; body?: unknown; method?: string };
    const { text, ...rest } = a;
    // The message template goes in unrendered: renderHttp renders it, once. (Rendering it here
    // too would expand a label value that itself looks like a template, e.g. {{ env.TOKEN }}.)
    return renderHttp({ ...rest, method: rest.method ?? 'POST', body: rest.body ?? { text: text ?? '' } }, vars);
  },
  async run(rendered, ctx) {
    const { status } = await send(rendered as RenderedHttp, ctx.signal);
    return { output: excerpt(`notified: ${status}`) };
  },
};
