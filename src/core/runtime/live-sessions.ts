/**
 * Long-lived sessions a service holds open (Realtime WebSockets, and any other socket
 * protocol): each protocol has a bound, a session takes a lease when it opens and gives it
 * back when it ends, whatever ends it. /health/detailed and /metrics read the counts here.
 */
export interface LiveSessionCount {
  readonly active: number;
  readonly max: number;
}

export class LiveSessions {
  readonly #limits = new Map<string, number>();
  readonly #active = new Map<string, number>();

  constructor(private readonly onChange: (protocol: string, active: number) => void = () => {}) {}

  /** Declares a protocol and its bound (sessions open at once); the count starts at 0. */
  define(protocol: string, max: number): void {
    this.#limits.set(protocol, max);
    if (!this.#active.has(protocol)) this.#active.set(protocol, 0);
    this.onChange(protocol, this.count(protocol));
  }

  count(protocol: string): number {
    return this.#active.get(protocol) ?? 0;
  }

  /** A release function (safe to call twice), or undefined when the protocol is at its bound. */
  tryOpen(protocol: string): (() => void) | undefined {
    const max = this.#limits.get(protocol) ?? 0;
    const active = this.count(protocol);
    if (active >= max) return undefined;
    this.#set(protocol, active + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#set(protocol, Math.max(0, this.count(protocol) - 1));
    };
  }

  /** Every declared protocol with its count, for /health/detailed. */
  snapshot(): Record<string, LiveSessionCount> {
    const counts: Record<string, LiveSessionCount> = {};
    for (const [protocol, max] of this.#limits) counts[protocol] = { active: this.count(protocol), max };
    return counts;
  }

  #set(protocol: string, active: number): void {
    this.#active.set(protocol, active);
    this.onChange(protocol, active);
  }
}
