import { cutText, storableText } from './text.js';

/** What an operator sees instead of a message that would have shown a password. */
export const WITHHELD_MESSAGE = 'message withheld: it contained a password';

const MAX_MESSAGE = 500;

/**
 * Returns `message` unless it contains one of `secrets` (as is, URL-encoded or JSON-escaped), in
 * which case the whole message is replaced; long messages are cut to the contract's 500 chars.
 * What a target said may hold a NUL or, cut short, half a surrogate pair: those become U+FFFD, so
 * the coordinator (which refuses them in any field: shared/text.ts) never refuses a real result.
 */
export function guardMessage(
  message: string | undefined,
  secrets: readonly (string | undefined)[],
): string | undefined {
  if (message === undefined) return undefined;
  for (const secret of secrets) {
    if (!secret) continue;
    const forms = [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)];
    if (forms.some((form) => message.includes(form))) return WITHHELD_MESSAGE;
  }
  return storableText(cutText(message, MAX_MESSAGE));
}
