#!/usr/bin/env node
/**
 * A CLI with only the operations commands, for their tests while src/cli/main.ts
 * does not wire them yet; it runs the same command modules the real CLI does.
 */
import { Command } from 'commander';
import { registerDoctorCommand } from '../../src/cli/doctor-command.js';
import { registerInstallServiceCommands } from '../../src/cli/install-service-command.js';

const program = new Command().name('voice-stack');
registerInstallServiceCommands(program);
registerDoctorCommand(program);
await program.parseAsync(process.argv);
