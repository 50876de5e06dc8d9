/**
 * A part of the agent that runs in the background from start() until stop() (the claim loop, the
 * priority lane, the heartbeat, the lock extender): stop() aborts `stopper` and waits for `loop` to
 * return.
 */
export abstract class BackgroundLoop {
  protected readonly stopper = new AbortController();
  private done: Promise<void> = Promise.resolve();

  start(): void {
    this.done = this.loop();
  }

  /** Stops the loop (a request in progress is cancelled) and waits for it to end. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.done;
  }

  /** Runs until `stopper` aborts. */
  protected abstract loop(): Promise<void>;
}
