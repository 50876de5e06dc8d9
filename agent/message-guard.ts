/** The guard lives in shared/ since the coordinator applies it too (to what agents report). */
export { guardMessage, WITHHELD_MESSAGE } from '../shared/message-guard.js';
