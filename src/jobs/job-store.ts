import type { Redis } from 'ioredis';
import type { Transcript } from '../asr/engines/asr-engine.js';
import { jobKeys } from './job-keys.js';
import type { PiecedAudio } from './job-pieces.js';
import type { FinishedStatus, JobError, JobRecord, JobRequest, JobStatus } from './job-record.js';

/**
 * Ends a job once, whoever gets there first (a worker finishing, a second worker after a
 * stalled run, a DELETE): `finished_at` is the latch. Stores the result with the
 * retention TTL, deletes the audio at once and starts the record's TTL.
 * Publishes the id on the ended channel (synchronous requests dispatched to the queue wait on it).
 * KEYS: record, audio, result, finished counts, piece results. ARGV: status, now, error, result, ttl, progress, channel, id.
 */
const FINISH_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'finished_at') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'progress', ARGV[6]) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5]) end
redis.call('DEL', KEYS[2], KEYS[5])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
redis.call('PUBLISH', ARGV[7], ARGV[8])
return 1`;

/** Marks a job running unless it has ended; returns 2 on its first start, 1 on a later one, 0 if ended. */
const START_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'finished_at') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[2])
if redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1]) == 1 then return 2 end
return 1`;

const PROGRESS_SCRIPT = `
if redis.call('HGET', KEYS[1], 'status') == 'running' then redis.call('HSET', KEYS[1], 'progress', ARGV[1]) end
return 0`;

/**
 * Keeps a piece's transcript unless the job has ended (a piece finishing just as its job is
 * cancelled must not leave a pieces hash that nothing deletes); returns the pieces done, or
 * -1 once ended. KEYS: record, pieces, audio. ARGV: piece, transcript.
 */
const SAVE_PIECE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[1], 'finished_at') == 1 then return -1 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[1])
return redis.call('HLEN', KEYS[2])`;

interface ScriptedRedis extends Redis {
  finishJob(...args: (string | number)[]): Promise<number>;
  startJob(...args: (string | number)[]): Promise<number>;
  jobProgress(...args: (string | number)[]): Promise<number>;
  savePiece(...args: (string | number)[]): Promise<number>;
}

/** A transaction that knows the scripts (ioredis adds defined commands to pipelines too). */
interface ScriptedTransaction {
  startJob(...args: (string | number)[]): ScriptedTransaction;
  hgetall(key: string): ScriptedTransaction;
  hgetBuffer(key: string, field: string): ScriptedTransaction;
  exec(): Promise<[error: Error | null, value: unknown][] | null>;
}

export interface StoredResult {
  readonly transcript: Transcript;
}

/** Voice Stack's job records in Redis, beside BullMQ's own keys (which only schedule). */
export class JobStore {
  readonly #redis: ScriptedRedis;
  readonly #retentionSeconds: number;

  constructor(redis: Redis, retentionHours: number) {
    redis.defineCommand('finishJob', { numberOfKeys: 5, lua: FINISH_SCRIPT });
    redis.defineCommand('startJob', { numberOfKeys: 1, lua: START_SCRIPT });
    redis.defineCommand('jobProgress', { numberOfKeys: 1, lua: PROGRESS_SCRIPT });
    redis.defineCommand('savePiece', { numberOfKeys: 3, lua: SAVE_PIECE_SCRIPT });
    this.#redis = redis as ScriptedRedis;
    this.#retentionSeconds = Math.max(1, Math.round(retentionHours * 3600));
  }

  get redis(): Redis {
    return this.#redis;
  }

  /** The record and each piece's audio (one piece unless the job was split); resolves with the record written. */
  async create(id: string, request: JobRequest, audio: PiecedAudio, now: number): Promise<JobRecord> {
    const pieces = Object.fromEntries(audio.pieces.map((piece, k) => [String(k), piece.data]));
    const hash = {
      status: 'queued',
      created_at: String(now),
      audio_seconds: String(audio.seconds),
      progress: '0',
      request: JSON.stringify(request),
      pieces: JSON.stringify(audio.pieces.map((p) => p.offsetSeconds)),
    };
    await this.#redis
      .multi()
      .hset(jobKeys.record(id), hash)
      .hset(jobKeys.audio(id), pieces)
      .zadd(jobKeys.index, now, id)
      .zremrangebyscore(jobKeys.index, '-inf', now - this.#retentionSeconds * 1000)
      .exec();
    return parseRecord(id, hash) as JobRecord;
  }

  /** Undoes `create` when the job could not be queued. */
  async discard(id: string): Promise<void> {
    await this.#redis.del(jobKeys.record(id), jobKeys.audio(id), jobKeys.result(id), jobKeys.pieces(id));
    await this.#redis.zrem(jobKeys.index, id);
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return parseRecord(id, await this.#redis.hgetall(jobKeys.record(id)));
  }

  /** The newest jobs first, at most `limit`, of one status when given. */
  async list(
    limit: number,
    status: JobStatus | undefined,
    filter: { dispatched: boolean } = { dispatched: false },
  ): Promise<JobRecord[]> {
    const found: JobRecord[] = [];
    const page = 200;
    for (let start = 0; found.length < limit && start < 10_000; start += page) {
      const ids = await this.#redis.zrevrange(jobKeys.index, start, start + page - 1);
      if (ids.length === 0) break;
      const pipeline = this.#redis.pipeline();
      for (const id of ids) pipeline.hgetall(jobKeys.record(id));
      const replies = (await pipeline.exec()) ?? [];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const record = parseRecord(id, (replies[i]?.[1] ?? {}) as Record<string, string>);
        if (record === undefined) gone.push(id);
        else if (
          (status === undefined || record.status === status) &&
          (record.request.dispatched ?? false) === filter.dispatched &&
          found.length < limit
        )
          found.push(record);
      });
      // Records past their retention have expired: their index entries go too.
      if (gone.length > 0) await this.#redis.zrem(jobKeys.index, ...gone);
    }
    return found;
  }

  /**
   * Keeps a piece's transcript and drops its audio; resolves with how many pieces are done,
   * or undefined when the job has ended meanwhile (nothing kept). Idempotent: a piece run
   * twice (a stalled worker) counts once.
   */
  async savePiece(id: string, piece: number, transcript: Transcript): Promise<number | undefined> {
    const done = await this.#redis.savePiece(
      jobKeys.record(id),
      jobKeys.pieces(id),
      jobKeys.audio(id),
      String(piece),
      JSON.stringify(transcript),
    );
    return done < 0 ? undefined : done;
  }

  async pieceTranscripts(id: string): Promise<Map<number, Transcript>> {
    const all = await this.#redis.hgetall(jobKeys.pieces(id));
    return new Map(Object.entries(all).map(([k, v]) => [Number(k), JSON.parse(v) as Transcript]));
  }

  async result(id: string): Promise<StoredResult | undefined> {
    const text = await this.#redis.get(jobKeys.result(id));
    return text === null ? undefined : (JSON.parse(text) as StoredResult);
  }

  /**
   * Marks the job running and reads its record and a piece's audio, in one transaction (one
   * round trip, and no DELETE between the start and the reads). `started`: 'first' on the
   * job's first start, 'again' after a stalled or handed-back run, 'ended' if it has ended.
   */
  async start(
    id: string,
    worker: string,
    now: number,
    piece: number,
  ): Promise<{ started: 'first' | 'again' | 'ended'; record?: JobRecord; audio?: Buffer }> {
    const replies = await (this.#redis.multi() as unknown as ScriptedTransaction)
      .startJob(jobKeys.record(id), now, worker)
      .hgetall(jobKeys.record(id))
      .hgetBuffer(jobKeys.audio(id), String(piece))
      .exec();
    const [start, hash, audio] = (replies ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    });
    const started = start === 2 ? 'first' : start === 1 ? 'again' : 'ended';
    return {
      started,
      record: parseRecord(id, (hash ?? {}) as Record<string, string>),
      audio: (audio as Buffer | null) ?? undefined,
    };
  }

  /** The record and its result (if it succeeded), in one round trip: what a waiting request answers from. */
  async ended(id: string): Promise<{ record?: JobRecord; result?: StoredResult }> {
    const replies = await this.#redis.multi().hgetall(jobKeys.record(id)).get(jobKeys.result(id)).exec();
    const [hash, result] = (replies ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    });
    return {
      record: parseRecord(id, (hash ?? {}) as Record<string, string>),
      result: typeof result === 'string' ? (JSON.parse(result) as StoredResult) : undefined,
    };
  }

  async progress(id: string, fraction: number): Promise<void> {
    await this.#redis.jobProgress(jobKeys.record(id), fraction.toFixed(4));
  }

  /** True when this call ended the job; false when it had already ended. */
  async finish(
    id: string,
    status: FinishedStatus,
    now: number,
    outcome: { result?: StoredResult; error?: JobError } = {},
  ): Promise<boolean> {
    const done = await this.#redis.finishJob(
      jobKeys.record(id),
      jobKeys.audio(id),
      jobKeys.result(id),
      jobKeys.finished,
      jobKeys.pieces(id),
      status,
      now,
      outcome.error ? JSON.stringify(outcome.error) : '',
      outcome.result ? JSON.stringify(outcome.result) : '',
      this.#retentionSeconds,
      status === 'succeeded' ? '1' : '',
      jobKeys.endedChannel,
      id,
    );
    return done === 1;
  }

  /** Jobs ended so far across the fleet, by status. */
  async finishedCounts(): Promise<Record<string, number>> {
    const counts = await this.#redis.hgetall(jobKeys.finished);
    return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number(v)]));
  }

  /** 1 for the next job a worker takes, counted on BullMQ's wait list; undefined when not on it. */
  async queuePosition(waitList: string, id: string): Promise<number | undefined> {
    // One transaction: a worker taking a job between the two reads would skew the count.
    const replies = await this.#redis.multi().lpos(waitList, id).llen(waitList).exec();
    const index = replies?.[0]?.[1] as number | null | undefined;
    const length = Number(replies?.[1]?.[1] ?? 0);
    if (index === null || index === undefined || length - index < 1) return undefined;
    return length - index;
  }
}

function parseRecord(id: string, hash: Record<string, string>): JobRecord | undefined {
  if (hash.status === undefined || hash.request === undefined) return undefined;
  const time = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  return {
    id,
    status: hash.status as JobStatus,
    createdAt: Number(hash.created_at),
    startedAt: time(hash.started_at),
    finishedAt: time(hash.finished_at),
    audioSeconds: Number(hash.audio_seconds ?? 0),
    progress: Number(hash.progress ?? 0),
    error: hash.error === undefined ? undefined : (JSON.parse(hash.error) as JobError),
    pieceOffsets: hash.pieces === undefined ? [0] : (JSON.parse(hash.pieces) as number[]),
    request: JSON.parse(hash.request) as JobRequest,
  };
}
