import { apiPath, need, needId, query, type Command } from './command.js';

/**
 * A resource as the command line names it (`groups`) and as the API's path does (`sync-groups`),
 * and one of it in words (`group`).
 */
interface Resource {
  cli: string;
  path: string;
  noun: string;
}

const resourceOf = (name: string | Resource): Resource =>
  typeof name === 'string' ? { cli: name, path: name, noun: name.slice(0, -1) } : name;

/**
 * `sites enable ID`, `agents approve ID`, …: a POST to /RESOURCE/ID/ACTION, printed as
 * `site ID: enabled` (`done`: the word when it is not ACTION + d).
 */
export const toggle = (
  resource: string | Resource,
  action: string,
  summary: string,
  done = `${action}d`,
): Command => {
  const r = resourceOf(resource);
  return {
    name: `${r.cli} ${action}`,
    arguments: 'ID',
    summary,
    async handler({ api, args: [id], out }) {
      const answer = await api.call('POST', apiPath(`/${r.path}/${needId(id)}/${action}`), {});
      out(answer, () => `${r.noun} ${id}: ${done}`);
      return 0;
    },
  };
};

/** `sites delete ID [--force]`: DELETE /RESOURCE/ID (`force`: the route takes ?force=true). */
export const remove = (resource: string | Resource, summary: string, force = false): Command => {
  const r = resourceOf(resource);
  return {
    name: `${r.cli} delete`,
    arguments: 'ID',
    ...(force ? { options: '[--force]' } : {}),
    summary,
    async handler({ api, args: [id], flags, out }) {
      const path = `/${r.path}/${needId(id)}${query({ force: flags.force === true ? 'true' : undefined })}`;
      const answer = await api.call('DELETE', apiPath(path));
      out(answer, () => `${r.noun} ${id}: deleted`);
      return 0;
    },
  };
};

/** `sites rename ID NAME`: PATCH /RESOURCE/ID {name}. */
export const rename = (resource: string | Resource, summary: string): Command => {
  const r = resourceOf(resource);
  return {
    name: `${r.cli} rename`,
    arguments: 'ID NAME',
    summary,
    async handler({ api, args: [id, name], out }) {
      const answer = await api.call('PATCH', apiPath(`/${r.path}/${needId(id)}`), {
        name: need(name, 'NAME'),
      });
      out(answer, () => `${r.noun} ${id}: renamed ${name}`);
      return 0;
    },
  };
};

/** The sync groups: `groups …` on the command line, /sync-groups in the API. */
export const GROUPS: Resource = { cli: 'groups', path: 'sync-groups', noun: 'group' };
