/**
 * `voice-stack doctor`: everything a person debugging a deployment asks first,
 * in one screen. Exits 1 when something will stop a service from working.
 */
import type { Command } from 'commander';
import { loadSettings, parseSettings, type Settings, SettingsError } from '../core/settings.js';
import { type DoctorReport, diagnose } from '../ops/doctor.js';
import { formatBytes } from './download-progress.js';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check this machine and the settings: Node, CPU/GPU, memory, tools, models, ports')
    .option('--json', 'print the report as JSON')
    .action(async (flags: { json?: boolean }) => {
      const { settings, problems } = settingsOrDefaults();
      const report = await diagnose(settings, problems);
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      if (report.findings.some((f) => f.severity === 'error')) process.exitCode = 1;
    });
}

/** A bad value is itself a finding; the rest of the report still helps, so go on with defaults. */
function settingsOrDefaults(): { settings: Settings; problems: string[] } {
  try {
    return { settings: loadSettings(), problems: [] };
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    const problems = error.problems.map((p) => `Invalid setting ${p} (defaults are shown below)`);
    return { settings: parseSettings({}), problems };
  }
}

export function formatReport(report: DoctorReport): string {
  const { memory, swap } = report.resources;
  const mb = (value: number) => formatBytes(value * 2 ** 20);
  const lines = [
    'Voice Stack doctor',
    '==================',
    `Node:        ${report.node.version} (needs ${report.node.required}+)${report.node.ok ? '' : '  TOO OLD'}`,
    `System:      ${report.system.platform} ${report.system.release} ${report.system.arch}`,
    `CPU:         ${report.cpu.model}, ${report.cpu.cores} usable cores`,
    `GPU:         ${report.gpus.length > 0 ? report.gpus.join('; ') : 'none found (inference runs on the CPU)'}`,
    `Memory:      ${memory.percent}% used, ${mb(memory.availableMb)} available of ${mb(memory.totalMb)}` +
      (memory.cgroupLimited ? ' (cgroup limit)' : ''),
    `Swap:        ${swap.totalMb > 0 ? `${swap.percent}% used of ${mb(swap.totalMb)}` : 'none'}`,
    `cgroup:      ${report.cgroup.version}: memory ${report.cgroup.memoryMax}, memory+swap ${report.cgroup.swapMax}, cpu ${report.cgroup.cpuMax}`,
    `ffmpeg:      ${report.tools.ffmpeg ?? 'NOT FOUND'}`,
    `espeak-ng:   ${report.tools['espeak-ng'] ?? 'NOT FOUND'}`,
    `whisper.cpp: ${report.whisperBuild ?? 'NOT BUILT for this CPU (prebuilt fallback, no AVX)'}`,
    ...modelLines(report),
    `Ports:       ${portLine(report, 'asr')}, ${portLine(report, 'tts')}`,
    '',
    'Effective settings:',
    ...Object.entries(report.settings).map(([name, value]) => `  ${name.padEnd(28)} ${value}`),
    '',
    ...findingLines(report),
  ];
  return `${lines.join('\n')}\n`;
}

function modelLines(report: DoctorReport): string[] {
  const { models } = report;
  return [
    `Model cache: ${models.cacheDir}`,
    `Models:      ${models.cached.length > 0 ? models.cached.join(', ') : 'none cached'}`,
    `ASR_MODEL:   ${models.asrModel} (${models.asrModelCached ? 'cached' : 'not cached: downloaded on first use'})`,
  ];
}

function portLine(report: DoctorReport, service: 'asr' | 'tts'): string {
  const { port, free } = report.ports[service];
  return `${service.toUpperCase()} ${port} ${free ? 'free' : 'IN USE'}`;
}

function findingLines(report: DoctorReport): string[] {
  if (report.findings.length === 0) return ['No problems found.'];
  return report.findings.map((f) => `${f.severity === 'error' ? 'ERROR  ' : 'WARNING'} ${f.message}`);
}
