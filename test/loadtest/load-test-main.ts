/**
 * A stand-alone `load-test` entry for tests and local runs before the voice-stack CLI
 * wires the command in: `npx tsx test/loadtest/load-test-main.ts load-test --help`.
 */
import { Command } from 'commander';
import { registerLoadTestCommand } from '../../src/cli/load-test-command.js';

const program = new Command().name('voice-stack');
registerLoadTestCommand(program);
await program.parseAsync(process.argv);
