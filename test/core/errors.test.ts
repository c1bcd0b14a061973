import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DamagedModelFileError } from '../../src/asr/whisper-model-file.js';
import { FfmpegError } from '../../src/audio/ffmpeg.js';
import {
  AppError,
  ErrorKinds,
  engineFailure,
  invalidParameterError,
  isVoiceStackError,
  VoiceStackError,
} from '../../src/core/errors.js';
import { DownloadError, DownloadErrorCodes } from '../../src/core/models/model-download.js';
import { ProcessError, runProcess } from '../../src/core/run-process.js';
import { parseSettings, SettingsError } from '../../src/core/settings.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail('expected a throw');
}

describe('one error base with stable codes', () => {
  test('settings, process, ffmpeg, download and model-file errors are AppErrors with their codes', async () => {
    const settings = thrown(() => parseSettings({ ASR_PORT: 'not-a-port' }));
    assert.ok(settings instanceof SettingsError && settings instanceof AppError);
    assert.equal(settings.code, 'VS_ERR_SETTINGS');
    assert.equal(settings.name, 'SettingsError');

    const missing = await runProcess('/nonexistent/voice-stack-no-such-program', []).catch((e: unknown) => e);
    assert.ok(missing instanceof ProcessError && missing instanceof AppError);
    assert.equal(missing.code, 'VS_ERR_PROCESS_NOT_FOUND');

    const ffmpeg = new FfmpegError('timeout', 'no output for 30 s');
    assert.ok(ffmpeg instanceof AppError);
    assert.equal(ffmpeg.code, 'VS_ERR_FFMPEG_TIMEOUT');

    const download = new DownloadError(
      DownloadErrorCodes.checksum,
      'https://example.invalid/m.bin',
      'bad sum',
    );
    assert.ok(download instanceof AppError);
    assert.equal(download.code, 'VS_ERR_DOWNLOAD_CHECKSUM');

    const damaged = new DamagedModelFileError('wrong magic number');
    assert.ok(damaged instanceof AppError);
    assert.equal(damaged.code, 'VS_ERR_MODEL_FILE_DAMAGED');

    // Only the errors a client may see carry an HTTP status.
    assert.ok(invalidParameterError('x', 'bad') instanceof AppError);
    assert.ok(!isVoiceStackError(ffmpeg));
  });

  test('engineFailure: the abort wins, a Voice Stack error passes through, anything else is wrapped', () => {
    const live = new AbortController();
    const passed = invalidParameterError('voice', 'unknown');
    assert.equal(engineFailure('piper', passed, live.signal), passed);

    const wrapped = engineFailure('piper', new Error('onnx: bad tensor'), live.signal);
    assert.ok(wrapped instanceof VoiceStackError);
    assert.equal(wrapped.code, ErrorKinds.engineFailed.code);
    assert.match(wrapped.message, /Engine 'piper' failed: onnx: bad tensor/);

    const aborted = new AbortController();
    aborted.abort();
    assert.equal(engineFailure('piper', passed, aborted.signal).code, ErrorKinds.clientClosed.code);
    assert.equal(engineFailure('kokoro', 'native error', aborted.signal).code, ErrorKinds.clientClosed.code);
  });
});
