import type { ClientChannel } from 'ssh2';
import type { Attempt } from '../types.js';
import { closeStatus, oneLine } from './ssh.js';

type Failure = Extract<Attempt, { ok: false }>;

/** Prompts of `passwd` (Linux-PAM, shadow-utils, BSD), read at the end of the output so far. */
const PROMPTS = {
  retype: /(retype|re-?enter|repeat|again|confirm|verify)[^\n]*password[^\n]*:\s*$/i,
  current: /(current|old|existing)[^\n]*password[^\n]*:\s*$|\(current\)[^\n]*:\s*$/i,
  new: /new[^\n]*password[^\n]*:\s*$/i,
};
const SUCCESS =
  /password updated successfully|all authentication tokens updated successfully|password changed/i;
/** What passwd prints when it refuses: the password is then unchanged. */
const REFUSED =
  /BAD PASSWORD|authentication token manipulation error|password unchanged|passwords do not match|do not match|you must (choose|wait)|too (short|simple|similar|long)|is a palindrome|case changes only|have exhausted maximum number of retries|authentication failure|permission denied|not allowed|try again later|is the same as the old one|was already used|dictionary/i;

type Stage = 'started' | 'sentCurrent' | 'sentNew' | 'sentRetype';

export interface DialogueOptions {
  current: string;
  next: string;
  promptTimeoutMs: number;
  signal: AbortSignal;
  /** Strips passwords from what passwd printed, before it is quoted. */
  redact: (text: string) => string;
}

/**
 * Answers `passwd`'s prompts on a PTY channel: current, new, retype. Definite failure while the new
 * password was not sent yet or when passwd says no; uncertain when the session drops or goes quiet
 * after the new password was sent.
 */
export function passwdDialogue(channel: ClientChannel, o: DialogueOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    let stage: Stage = 'started';
    let unread = '';
    let all = '';
    let succeeded = false;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const newSent = () => stage === 'sentNew' || stage === 'sentRetype';
    const said = () => oneLine(o.redact(lastLines(all)));

    const finish = (attempt: Attempt) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      channel.removeAllListeners('data');
      channel.close();
      resolve(attempt);
    };
    const refused = (message: string): Failure => ({
      ok: false,
      reason: 'change_failed',
      message,
      definite: true,
    });
    const uncertain = (message: string): Failure => ({ ok: false, reason: 'error', message });
    const notSent = (message: string): Failure => ({ ok: false, reason: 'error', message, definite: true });
    const armTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const what = `passwd: no answer within ${o.promptTimeoutMs} ms after ${describe(stage)}`;
        finish(newSent() ? uncertain(`${what}; output: ${said()}`) : notSent(`${what}; output: ${said()}`));
      }, o.promptTimeoutMs);
    };
    const onAbort = () =>
      finish(
        newSent() ? uncertain('passwd aborted after the new password was sent') : notSent('passwd aborted'),
      );
    const answer = (password: string, to: Stage) => {
      stage = to;
      unread = '';
      channel.write(`${password}\n`);
      armTimer();
    };

    const onOutput = () => {
      if (SUCCESS.test(all)) {
        succeeded = true;
        return;
      }
      if (REFUSED.test(unread)) {
        finish(refused(`passwd refused the change: ${said()}`));
        return;
      }
      if (PROMPTS.retype.test(unread)) {
        if (stage !== 'sentNew') return finish(refused(`passwd asked to retype out of turn: ${said()}`));
        return answer(o.next, 'sentRetype');
      }
      if (PROMPTS.current.test(unread)) {
        if (stage !== 'started')
          return finish(refused(`passwd asked for the current password again: ${said()}`));
        return answer(o.current, 'sentCurrent');
      }
      if (PROMPTS.new.test(unread)) {
        // Asked again after the new password: passwd did not take it (it printed why, or not).
        if (newSent()) return finish(refused(`passwd asked for a new password again: ${said()}`));
        return answer(o.next, 'sentNew');
      }
    };

    channel.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      unread += text;
      all = (all + text).slice(-4_000);
      onOutput();
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      unread += text;
      all = (all + text).slice(-4_000);
      onOutput();
    });
    const onExit = (code: number | null, signalName?: string) => {
      if (succeeded || (code === 0 && stage === 'sentRetype')) return finish({ ok: true });
      if (typeof code === 'number') {
        // passwd writes the new password only when every step succeeded: a failure exit is a refusal.
        return finish(
          newSent()
            ? refused(`passwd failed (exit ${code}): ${said()}`)
            : notSent(`passwd failed (exit ${code}): ${said()}`),
        );
      }
      const how = `passwd ended by signal ${signalName ?? 'unknown'}`;
      finish(newSent() ? uncertain(how) : notSent(how));
    };
    channel.on('exit', onExit);
    channel.on('close', (code: unknown, signal: unknown) => {
      if (succeeded) return finish({ ok: true });
      // An exit status whose 'exit' came before the listener above (closeStatus); after an 'exit'
      // that was heard, finish() has already decided.
      const status = closeStatus(code, signal);
      if (status) return onExit(status.code, status.signal);
      const how = `the SSH session closed during passwd after ${describe(stage)}`;
      finish(newSent() ? uncertain(how) : notSent(how));
    });

    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener('abort', onAbort, { once: true });
    armTimer();
  });
}

function describe(stage: Stage): string {
  switch (stage) {
    case 'started':
      return 'starting';
    case 'sentCurrent':
      return 'the current password was sent';
    case 'sentNew':
      return 'the new password was sent';
    case 'sentRetype':
      return 'the new password was confirmed';
  }
}

/** The last few non-empty lines of output, where passwd says what happened. */
function lastLines(text: string): string {
  return text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-3)
    .join(' / ');
}
