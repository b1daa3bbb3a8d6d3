// Every command group of the CLI. Add one line per file in this folder.
import type { Command } from 'commander';
import { register as codebook } from './codebook.js';
import { register as llm } from './llm.js';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [codebook, llm];
