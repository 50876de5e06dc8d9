import { ApiError } from './api.js';
import { toast } from './dom.js';

export interface PageContext {
  root: HTMLElement;
  /** Path segments after '#/', e.g. ['credentials', '<id>']. */
  path: string[];
  params: URLSearchParams;
  /** Changes the hash query of the current page (filters), keeping the page. */
  setParams(next: Record<string, string | undefined>): void;
}

export interface PageResult {
  title: string;
  /** Called every few seconds while the page is shown and the tab visible. */
  refresh?: () => Promise<void>;
}

export type Page = (ctx: PageContext) => Promise<PageResult>;

/** Runs an action and tells the operator how it went. */
export async function act(what: string, fn: () => Promise<unknown>, done?: string): Promise<boolean> {
  try {
    await fn();
    toast(done ?? `${what}: done`);
    return true;
  } catch (err) {
    toast(`${what} failed: ${err instanceof ApiError ? err.message : String(err)}`, 'error');
    return false;
  }
}
