import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ServiceName } from './settings.js';

/** Latency buckets from a cached health check to a long transcription. */
const LATENCY_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The Prometheus series of one service; each service has its own registry and port. */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestDuration: Histogram<'route' | 'method'>;
  readonly inferenceDuration: Histogram;
  readonly queueWait: Histogram;
  readonly queueDepth: Gauge;
  readonly activeRequests: Gauge;
  readonly rejections: Counter<'reason'>;
  readonly modelLoads: Counter<'result'>;
  readonly modelUnloads: Counter<'reason'>;
  readonly modelLoaded: Gauge;
  readonly modelLoadDuration: Histogram;
  readonly audioSeconds: Counter;
  readonly speechGate: Counter<'decision'>;
  readonly liveSessions: Gauge<'protocol'>;
  readonly realtimeUtterances: Counter<'result'>;

  constructor(service: ServiceName) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry, prefix: 'voice_stack_' });
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'voice_stack_requests_total',
      help: 'HTTP requests answered, by route and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'voice_stack_request_duration_seconds',
      help: 'Time from request received to response sent',
      labelNames: ['route', 'method'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.inferenceDuration = new Histogram({
      name: 'voice_stack_inference_duration_seconds',
      help: 'Time an inference held a slot',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.queueWait = new Histogram({
      name: 'voice_stack_queue_wait_seconds',
      help: 'Time a request waited for a free slot',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'voice_stack_queue_depth',
      help: 'Requests waiting for a slot',
      registers,
    });
    this.activeRequests = new Gauge({
      name: 'voice_stack_active_requests',
      help: 'Requests holding an inference slot',
      registers,
    });
    this.rejections = new Counter({
      name: 'voice_stack_rejections_total',
      help: 'Requests refused, by reason (queue_full, resource_threshold, file_too_large, …)',
      labelNames: ['reason'],
      registers,
    });
    this.modelLoads = new Counter({
      name: 'voice_stack_model_loads_total',
      help: 'Model loads, by result',
      labelNames: ['result'],
      registers,
    });
    this.modelUnloads = new Counter({
      name: 'voice_stack_model_unloads_total',
      help: 'Model unloads, by reason (idle, shutdown)',
      labelNames: ['reason'],
      registers,
    });
    this.modelLoaded = new Gauge({
      name: 'voice_stack_model_loaded',
      help: '1 while the model is loaded',
      registers,
    });
    this.modelLoadDuration = new Histogram({
      name: 'voice_stack_model_load_duration_seconds',
      help: 'Time to load the model',
      buckets: [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    });
    this.audioSeconds = new Counter({
      name: 'voice_stack_audio_seconds_total',
      help: 'Seconds of audio processed (ASR: transcribed input; TTS: synthesised output)',
      registers,
    });
    this.speechGate = new Counter({
      name: 'voice_stack_speech_gate_total',
      help: 'ASR blocks of audio (up to 5 min each) by the speech gate: speech (sent to the engine) or no_speech (never sent)',
      labelNames: ['decision'],
      registers,
    });
    this.liveSessions = new Gauge({
      name: 'voice_stack_live_sessions',
      help: 'Socket sessions open now, by protocol (realtime, …)',
      labelNames: ['protocol'],
      registers,
    });
    this.realtimeUtterances = new Counter({
      name: 'voice_stack_realtime_utterances_total',
      help: 'Realtime utterances committed for transcription, by result (completed, failed, abandoned)',
      labelNames: ['result'],
      registers,
    });
  }
}
