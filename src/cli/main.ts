#!/usr/bin/env node
import { Command } from 'commander';
import { packageVersion } from '../core/package-version.js';
import { TTS_MODEL_ENTRIES } from '../tts/voice-catalog.js';
import { registerDoctorCommand } from './doctor-command.js';
import { registerInstallServiceCommands } from './install-service-command.js';
import { loadSettingsOrExit } from './load-settings.js';
import { registerLoadTestCommand } from './load-test-command.js';
import { registerModelsCommand } from './models-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerWorkerCommand } from './worker-command.js';

const program = new Command();
program
  .name('voice-stack')
  .description('Self-hosted speech: ASR and TTS services and their tools')
  .version(packageVersion());
registerServeCommand(program);
registerWorkerCommand(program);
registerModelsCommand(program, () => loadSettingsOrExit().modelCacheDir, { entries: TTS_MODEL_ENTRIES });
registerLoadTestCommand(program);
registerInstallServiceCommands(program);
registerDoctorCommand(program);
await program.parseAsync(process.argv);
