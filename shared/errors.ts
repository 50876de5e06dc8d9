/**
 * The one module of coded errors. Every error the product raises on purpose is a SyncError with a
 * stable `code` (for programs), an HTTP status (for the API) and a message for people. Messages
 * never carry secrets: callers pass field names and ids, never values.
 */
export const ErrorCodes = {
  CONFIG_INVALID: { status: 500, text: 'invalid configuration' },
  VALIDATION_FAILED: { status: 400, text: 'validation failed' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, text: 'unsupported media type' },
  UNAUTHENTICATED: { status: 401, text: 'authentication required' },
  FORBIDDEN: { status: 403, text: 'forbidden' },
  NOT_FOUND: { status: 404, text: 'not found' },
  CONFLICT: { status: 409, text: 'conflict' },
  RATE_LIMITED: { status: 429, text: 'too many requests' },
  ENROLLMENT_INVALID: { status: 401, text: 'enrollment token invalid, used or expired' },
  AGENT_DISABLED: { status: 403, text: 'agent disabled' },
  AGENT_PENDING_APPROVAL: { status: 403, text: 'agent waits for approval' },
  AGENT_VERSION_UNSUPPORTED: {
    status: 403,
    text: "the agent's version is not supported by this coordinator",
  },
  JOB_NOT_HELD: { status: 409, text: 'job not held by this agent' },
  DECRYPT_FAILED: { status: 422, text: 'a stored secret failed its integrity check' },
  UNAVAILABLE: { status: 503, text: 'dependency unavailable' },
  INTERNAL: { status: 500, text: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface FieldIssue {
  /** dotted path of the offending field, e.g. `connection.latencyMs` */
  field: string;
  message: string;
}

export class SyncError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly issues: FieldIssue[] | undefined;
  /** RATE_LIMITED, UNAVAILABLE: seconds before trying again (the HTTP `Retry-After` header). */
  readonly retryAfterS: number | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    options?: { issues?: FieldIssue[]; cause?: unknown; retryAfterS?: number },
  ) {
    super(
      message ?? ErrorCodes[code].text,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'SyncError';
    this.code = code;
    this.statusCode = ErrorCodes[code].status;
    this.issues = options?.issues;
    this.retryAfterS = options?.retryAfterS;
  }

  toJSON(): { error: { code: ErrorCode; message: string; issues?: FieldIssue[] } } {
    return {
      error: { code: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) },
    };
  }
}

export const isSyncError = (err: unknown): err is SyncError => err instanceof SyncError;
