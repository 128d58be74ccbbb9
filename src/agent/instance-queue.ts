/** Work for one instance runs one call after another; different instances run side by side. */
export class InstanceQueue {
  private readonly queues = new Map<string, Promise<unknown>>()

  run<T>(instanceId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(instanceId) ?? Promise.resolve()
    const next = previous.then(work, work)
    const settled = next.catch(() => undefined)
    this.queues.set(instanceId, settled)
    void settled.then(() => {
      if (this.queues.get(instanceId) === settled) this.queues.delete(instanceId)
    })
    return next
  }

  /** Resolves once the work queued for the instance so far has ended. */
  async idle(instanceId: string): Promise<void> {
    await this.queues.get(instanceId)
  }
}
