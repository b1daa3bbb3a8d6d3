#!/usr/bin/env node
// The README's screenshots of `v2l serve` (docs/img/serve-*.png), cropped at native resolution, from a
// running server that has an LLM model, the photos folder and a few-shot dataset, e.g.
//
//   v2l serve --checkpoint ... --codebook ... --clip ... --llm model.gguf --images ../shared/data/photos \
//     --fewshot-data ../shared/data/tiny-imagenet-val --port 8199
//   node scripts/viewer-screenshots.mjs http://127.0.0.1:8199/ docs/img
//
// Needs Chromium (Debian's, or V2L_CHROMIUM). The restoration and few-shot settings suit a small-context
// LLM (stories260K); change them here for a real one.
/* global window, document */
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { mkdirSync, readFileSync } from 'node:fs';
const url = process.argv[2] ?? 'http://127.0.0.1:8080/';
const out = process.argv[3] ?? 'docs/img';
mkdirSync(out, { recursive: true });
const photos = new URL('../../shared/data/photos/', import.meta.url).pathname;
const browser = await chromium.launch({ executablePath: process.env.V2L_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
page.setDefaultTimeout(180000);
const save = async (name, clip) => {
  const buf = await page.screenshot({ fullPage: true, clip });
  await sharp(buf).png({ palette: true, quality: 95, effort: 8 }).toFile(`${out}/${name}.png`);
};
const box = async (sel) => { await page.evaluate(() => window.scrollTo(0, 0)); return page.locator(sel).boundingBox(); };
await page.goto(url);
await page.waitForSelector('body[data-ready="1"]');
await page.setInputFiles('#file', photos + 'dog.jpg');
await page.waitForSelector('#token-map .cell');
await page.hover('#token-map .cell[data-row="6"][data-col="4"]');
await page.waitForSelector('#tooltip:not([hidden])');
// The codebook view shows the dog's nearest global entry.
const entry = (await page.textContent('#global-tokens .chip[data-index="0"] .tok')).trim();
let g = await box('#global-tokens');
await save('serve-tokens', { x: 0, y: 0, width: 1280, height: g.y + 760 });
await page.mouse.move(0, 0);
await page.click('#token-map .cell[data-row="6"][data-col="4"]');
await page.locator('#alternatives button:not(.selected)').first().click();
await page.waitForSelector('#edited-figure:not([hidden]) #edited[src^="data:"]');
await page.waitForFunction(() => /After your/.test(document.querySelector('#edited-caption')?.textContent ?? ''));
await page.click('#token-map .cell[data-row="6"][data-col="4"]');
await page.mouse.move(0, 0);
g = await box('#global-tokens');
const ed = await box('#editor');
await save('serve-edit', { x: 0, y: g.y - 8, width: 1280, height: ed.y + ed.height + 12 - (g.y - 8) });
const jpg = readFileSync(photos + 'dog.jpg');
await page.setInputFiles('#file', { name: 'truncated.jpg', mimeType: 'image/jpeg', buffer: jpg.subarray(0, jpg.length >> 1) });
await page.waitForSelector('#error:not([hidden])');
let e = await box('#error');
await save('serve-error', { x: 0, y: 0, width: 1280, height: e.y + e.height + 12 });
await page.click('#tab-codebook');
await page.fill('#codebook-search', entry);
await page.waitForFunction(() => /entr(y|ies) match/.test(document.querySelector('#entries')?.textContent ?? ''));
await page.locator('#entries button.entry').first().click();
await page.waitForFunction(() => /of \d+ images have it/.test(document.querySelector('#entry-status')?.textContent ?? ''));
e = await box('#entry-images');
await save('serve-codebook', { x: 0, y: 0, width: 1280, height: Math.max(e.y + e.height + 16, 500) });
await page.click('#tab-tokens');
await page.setInputFiles('#file', photos + 'horse.png');
await page.waitForSelector('#token-map .cell');
await page.click('#tab-restore');
await page.click('#restore-images .thumb.current');
await page.fill('#restore-copies', '1');
await page.fill('#restore-n', '8');
await page.click('#restore-start');
await page.waitForSelector('#restore-status.done');
e = await box('.restore-panels');
await save('serve-restore', { x: 0, y: 0, width: 1280, height: e.y + e.height + 12 });
await page.click('#tab-fewshot');
await page.fill('#fewshot-seed', '3');
await page.click('#fewshot-run');
await page.waitForSelector('#fewshot-verdict');
e = await box('#fewshot-out');
await save('serve-fewshot', { x: 0, y: 0, width: 1280, height: e.y + e.height + 12 });
await browser.close();
console.error(`screenshots written to ${out}`);
