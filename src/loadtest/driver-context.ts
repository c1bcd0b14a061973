import type { RequestRecord } from './load-test-result.js';
import type { RequestSender } from './request-sender.js';

/** What a traffic model needs from the runner: the clock, the stop flag, the sink. */
export interface DriverContext {
  sender: RequestSender;
  /** Milliseconds since the run started. */
  now: () => number;
  stopped: () => boolean;
  /** Settles when the run is interrupted, so a driver sleeping until its next send wakes up. */
  whenStopped: Promise<void>;
  onRecord: (record: RequestRecord) => void;
}
