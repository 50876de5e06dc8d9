import { apiPath, needId, type Command } from './command.js';

/** `sites enable ID`, `agents approve ID`, …: a POST to /RESOURCE/ID/ACTION, printed as `site ID: enabled`. */
export const toggle = (resource: string, action: string, summary: string): Command => ({
  name: `${resource} ${action}`,
  arguments: 'ID',
  summary,
  async handler({ api, args: [id], out }) {
    const r = await api.call('POST', apiPath(`/${resource}/${needId(id)}/${action}`), {});
    out(r, () => `${resource.slice(0, -1)} ${id}: ${action}d`);
    return 0;
  },
});
