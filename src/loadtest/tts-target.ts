import { readWavInfo } from '../audio/wav.js';
import { authorization, type PreparedRequest, type ServiceTarget } from './service-target.js';

export interface TtsTargetOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` when the server has API_KEY set. */
  apiKey?: string | undefined;
  texts: readonly string[];
  model: string;
  voice: string;
  responseFormat: string;
  speed: number;
}

/** OpenAI `pcm` is 24 kHz mono 16-bit little-endian. */
const PCM_BYTES_PER_SECOND = 24_000 * 2;

/** `POST /v1/audio/speech`, rotating through the texts. */
export function ttsTarget(options: TtsTargetOptions): ServiceTarget {
  if (options.texts.length === 0) throw new Error('no TTS text to send');
  const requests: PreparedRequest[] = options.texts.map((input) => ({
    method: 'POST',
    path: '/v1/audio/speech',
    headers: { 'content-type': 'application/json', ...authorization(options.apiKey) },
    body: JSON.stringify({
      model: options.model,
      input,
      voice: options.voice,
      response_format: options.responseFormat,
      speed: options.speed,
    }),
    audioSeconds: undefined,
  }));
  const measurable = options.responseFormat === 'wav' || options.responseFormat === 'pcm';
  return {
    name: 'tts',
    baseUrl: options.baseUrl,
    healthPath: '/health/detailed',
    keepsBody: measurable,
    request: (index) => requests[index % requests.length] as PreparedRequest,
    audioSecondsFromResponse: (body) => {
      if (options.responseFormat === 'pcm') return body.length / PCM_BYTES_PER_SECOND;
      if (options.responseFormat === 'wav') return readWavInfo(body)?.durationSeconds;
      return undefined;
    },
  };
}
