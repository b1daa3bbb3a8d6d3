// What the browser tests and the browser benchmark share: the fixture tokenizer exported as `v2l
// export-onnx` writes it, and a headless Chromium page on the static build with the user's files chosen.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { readTokenizerWeights } from '../tokenizer/weights.js';
import { loadCodebook } from '../codebook/package.js';
import { inferenceStateDict } from '../tokenizer/onnx-engine.js';
import { exportOnnx, onnxManifest, stateDictFingerprint, writeOnnxExport } from '../tokenizer/onnx-node.js';
import { CHROMIUM_ARGS } from '../serve/test-utils/fixture.js';

/** Writes the ONNX export of a checkpoint with its codebook, as `v2l export-onnx --checkpoint --codebook --out --winograd` does (the browser's form). */
export async function writeExport(checkpoint: string, codebookDir: string, out: string): Promise<string> {
  const weights = readTokenizerWeights(checkpoint);
  const codebook = loadCodebook(codebookDir);
  const config = { ...weights.config, nLocal: codebook.local.length / codebook.dim, nGlobal: codebook.global.length / codebook.dim };
  const sd = inferenceStateDict(weights.stateDict, () => true, { local: codebook.local, global: codebook.global, dim: codebook.dim });
  const x = await exportOnnx(config, sd, {}, { winograd: true, wasmSearch: true }); // as `v2l export-onnx --winograd`
  writeOnnxExport(out, x, { ...onnxManifest(config, stateDictFingerprint(config, sd)), winograd: true, imageSize: weights.imageSize ?? null, globalTokens: weights.globalTokens ?? null });
  return out;
}

/** A zip of folders (name in the archive -> folder on disk), as a person would make of a package; deflated. */
export function writeZip(out: string, folders: Record<string, string>): string {
  const tree: Record<string, Record<string, Uint8Array>> = {};
  for (const [name, d] of Object.entries(folders)) tree[name] = Object.fromEntries(readdirSync(d, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => [e.name, new Uint8Array(readFileSync(join(d, e.name)))]));
  writeFileSync(out, zipSync(tree));
  return out;
}

/** Every file of a folder and its subfolders (a CLIP folder's onnx/ included). */
export function filesOf(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...filesOf(join(dir, e.name)));
    else if (e.isFile()) out.push(join(dir, e.name));
  }
  return out;
}

export interface BrowserModelFiles {
  tokenizer: string;
  codebook: string;
  /** A zip of the export and the codebook (each in its folder), chosen instead of the two folders. */
  packageZip?: string;
  clip: string;
  llm?: string;
  /** A folder of class folders, for few-shot. */
  labelled?: string;
}

/** Launches Debian's Chromium headless (threads need nothing more: the static server isolates the page). */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

/** Chooses the model files on the page's pickers and waits until the viewer is up (or an error shows). */
export async function chooseModels(page: Page, m: BrowserModelFiles): Promise<void> {
  if (!m.packageZip) await page.setInputFiles('#pick-codebook', filesOf(m.codebook));
  await page.setInputFiles('#pick-clip', filesOf(m.clip));
  if (m.llm) await page.setInputFiles('#pick-llm', m.llm);
  if (m.labelled) await page.setInputFiles('#pick-fewshot', m.labelled);
  if (m.packageZip) await page.setInputFiles('#pick-package', m.packageZip);
  else await page.setInputFiles('#pick-tokenizer', filesOf(m.tokenizer));
  await page.waitForSelector('body[data-ready="1"], #models-error:not([hidden])');
  const err = await page.$('#models-error:not([hidden])');
  if (err) throw new Error(`the page did not load the models: ${await err.textContent()}`);
}

export function ensureDir(d: string): string {
  mkdirSync(d, { recursive: true });
  return d;
}
