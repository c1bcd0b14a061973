#!/usr/bin/env node
import { Command } from 'commander';
import { registerLoadTestCommand } from '../loadtest/command.js';
import { loadSettingsOrExit } from './load-settings.js';
import { registerModelsCommand } from './models-command.js';
import { registerServeCommand } from './serve-command.js';
import { packageVersion } from './version.js';

const program = new Command();
program
  .name('voice-stack')
  .description('Self-hosted speech: ASR and TTS services and their tools')
  .version(packageVersion());
registerServeCommand(program);
registerModelsCommand(program, () => loadSettingsOrExit().modelCacheDir);
registerLoadTestCommand(program);
await program.parseAsync(process.argv);
