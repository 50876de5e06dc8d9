import type { z } from 'zod';
import {
  ClaimResponseSchema,
  EnrollResponseSchema,
  ExtendResponseSchema,
  GATEWAY_PATHS,
  HeartbeatResponseSchema,
  ReleaseResponseSchema,
  ReportResponseSchema,
  type ClaimRequest,
  type ClaimResponse,
  type EnrollRequest,
  type EnrollResponse,
  type ExtendRequest,
  type ExtendResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type ReleaseRequest,
  type ReleaseResponse,
  type ReportRequest,
  type ReportResponse,
} from '../shared/contracts/gateway.js';
import { hasErrorCode, type JsonHttpClient, type RequestOptions } from './http.js';

export type CallOptions = Omit<RequestOptions, 'bearer'>;

/**
 * The agent's side of the gateway protocol (shared/contracts/gateway.ts). Every call but `enroll`
 * carries the agent token. A 401 UNAUTHENTICATED (token revoked) is reported to `onRevoked` before
 * the caller sees the error.
 */
export class GatewayClient {
  private agentToken: string | undefined;

  constructor(
    private readonly http: JsonHttpClient,
    private readonly onRevoked: (err: Error) => void = () => {},
  ) {}

  setAgentToken(token: string): void {
    this.agentToken = token;
  }

  enroll(body: EnrollRequest, options?: CallOptions): Promise<EnrollResponse> {
    return this.http.post(GATEWAY_PATHS.enroll, body, EnrollResponseSchema, options);
  }

  heartbeat(body: HeartbeatRequest, options?: CallOptions): Promise<HeartbeatResponse> {
    return this.call(GATEWAY_PATHS.heartbeat, body, HeartbeatResponseSchema, options);
  }

  /** Long-poll: the deadline is the wait plus a margin. */
  claim(body: ClaimRequest, options?: CallOptions): Promise<ClaimResponse> {
    const timeoutMs = options?.timeoutMs ?? (body.waitMs ?? 20_000) + 15_000;
    return this.call(GATEWAY_PATHS.claim, body, ClaimResponseSchema, { ...options, timeoutMs });
  }

  extend(body: ExtendRequest, options?: CallOptions): Promise<ExtendResponse> {
    return this.call(GATEWAY_PATHS.extend, body, ExtendResponseSchema, options);
  }

  report(body: ReportRequest, options?: CallOptions): Promise<ReportResponse> {
    return this.call(GATEWAY_PATHS.report, body, ReportResponseSchema, options);
  }

  release(body: ReleaseRequest, options?: CallOptions): Promise<ReleaseResponse> {
    return this.call(GATEWAY_PATHS.release, body, ReleaseResponseSchema, options);
  }

  close(): Promise<void> {
    return this.http.destroy();
  }

  private async call<S extends z.ZodType>(
    path: string,
    body: unknown,
    schema: S,
    options: CallOptions = {},
  ): Promise<z.output<S>> {
    try {
      return await this.http.post(path, body, schema, { ...options, bearer: this.agentToken });
    } catch (err) {
      if (hasErrorCode(err, 'UNAUTHENTICATED')) this.onRevoked(err);
      throw err;
    }
  }
}
