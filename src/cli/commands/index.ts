// Every command group of the CLI. Add one line per file in this folder.
import type { Command } from 'commander';
import { register as codebook } from './codebook.js';
import { register as llm } from './llm.js';
import { register as train } from './train.js';
import { register as models } from './models.js';
import { register as clip } from './clip.js';
import { register as tokenize } from './tokenize.js';
import { register as caption } from './caption.js';
import { register as vqa } from './vqa.js';
import { register as loraData } from './lora-data.js';
import { register as serve } from './serve.js';
import { register as restore } from './restore.js';
import { register as fewshot } from './fewshot.js';
import { register as evaluation } from './eval.js';
import { register as exportOnnx } from './export-onnx.js';
import { register as exportReference } from './export-reference.js';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [tokenize, codebook, llm, models, clip, train, serve, caption, vqa, restore, fewshot, evaluation, loraData, exportOnnx, exportReference];
