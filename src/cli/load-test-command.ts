import { type Command, Option } from 'commander';
import { errorMessage } from '../core/errors.js';
import { parseCliOptions, type RawLoadTestFlags } from '../loadtest/cli-options.js';
import { type CliIo, ExitCode, executeLoadTest } from '../loadtest/load-test-cli.js';
import { SCENARIOS } from '../loadtest/scenarios/run-scenario.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Adds `load-test` to the voice-stack command; `io` is for tests, the CLI uses the process. */
export function registerLoadTestCommand(
  program: Command,
  io?: Partial<CliIo> & { exit?: (code: number) => void },
): void {
  program
    .command('load-test')
    .description(
      "Load-test the ASR and/or TTS service and report latency, throughput and the server's own view",
    )
    .addOption(
      new Option('--service <service>', 'service to test').choices(['asr', 'tts', 'both']).default('both'),
    )
    .option(
      '--workers <n>',
      'concurrent workers (closed model); with --rate/--ramp, the most requests in flight',
    )
    .option('--requests <n>', 'requests per service (default 10 when no --duration or --ramp)')
    .option('--duration <time>', 'run each service for this long (e.g. 60, 30s, 5m)')
    .option('--asr-host <url>', 'ASR service URL', 'http://localhost:5001')
    .option('--tts-host <url>', 'TTS service URL', 'http://localhost:5002')
    .option('--timeout <time>', 'per-request timeout', '300')
    .option('--verbose', 'print one line per request: id, status, duration')
    .option('--parallel', 'with --service both, load both services at the same time (default: ASR, then TTS)')
    .option('--rate <r>', 'open model: send R requests/s whatever the server does')
    .addOption(
      new Option('--arrival <process>', 'open-model arrivals')
        .choices(['constant', 'poisson'])
        .default('constant'),
    )
    .option('--ramp <stages>', 'open-model rate stages RATE:DURATION,… (e.g. 1:30s,5:60s,10:60s)')
    .option('--audio <files...>', 'audio files to transcribe, rotated (default: synthesised speech)')
    .option('--text <text>', 'TTS input; repeat for several, rotated', collect)
    .option('--text-file <file>', 'TTS inputs, one per line')
    .option('--tts-model <model>', 'TTS model field', 'tts-1')
    .option('--tts-voice <voice>', 'TTS voice field', 'alloy')
    .option('--tts-format <format>', 'TTS response_format (wav and pcm let audio seconds be measured)', 'wav')
    .option('--tts-speed <speed>', 'TTS speed field', '1.0')
    .option('--asr-model <model>', 'ASR model field', 'whisper-1')
    .option('--asr-format <format>', 'ASR response_format', 'json')
    .option('--api-key <key>', 'sent as Authorization: Bearer <key>')
    .option(
      '--json <file>',
      'write the full results as JSON (schema: src/loadtest/load-test-report.schema.json)',
    )
    .option('--html <file>', 'write a self-contained HTML report with charts')
    .option(
      '--threshold <rules>',
      "fail (exit 2) unless every rule holds, e.g. 'asr.p95<5s,tts.error_rate<1%'",
    )
    .option('--sample-interval <time>', 'how often to sample /health/detailed', '0.25s')
    .option('--no-progress', 'no live progress line')
    .option('--progress-every <seconds>', 'seconds between progress lines when not on a terminal', '5')
    .addOption(
      new Option('--scenario <name>', 'run a test plan and check the server against its config').choices(
        SCENARIOS.map((s) => s.name),
      ),
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 the run could not be made, 2 a --threshold or scenario check failed, 130 interrupted.\n' +
        'Without --audio, ASR gets real speech synthesised once with espeak-ng, cached under MODEL_CACHE_DIR (or the temp dir).',
    )
    .action(async (flags: RawLoadTestFlags) => {
      const code = await runCommand(flags, io);
      // exitCode, not exit(): the lead's CLI may still have output to flush.
      if (io?.exit) io.exit(code);
      else process.exitCode = code;
    });
}

async function runCommand(flags: RawLoadTestFlags, io: Partial<CliIo> | undefined): Promise<number> {
  const stderr = io?.stderr ?? process.stderr;
  const interruption = io?.signal ? undefined : interruptOnSigint(stderr);
  try {
    const options = parseCliOptions(flags);
    return await executeLoadTest(options, {
      stdout: io?.stdout ?? process.stdout,
      stderr,
      env: io?.env ?? process.env,
      signal: io?.signal ?? (interruption as AbortController).signal,
    });
  } catch (error) {
    stderr.write(`load-test: ${errorMessage(error)}\n`);
    return ExitCode.error;
  } finally {
    interruption?.dispose();
  }
}

/** First Ctrl-C: stop and print the partial summary. Second: leave at once. */
function interruptOnSigint(stderr: NodeJS.WritableStream): AbortController & { dispose: () => void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    stderr.write('\nInterrupted: stopping and printing the partial summary (Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return Object.assign(controller, { dispose: () => process.off('SIGINT', onSigint) });
}
