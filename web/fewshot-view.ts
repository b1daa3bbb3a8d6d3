// The Few-shot tab: one seeded N-way K-shot episode of the server's labelled dataset: the support images
// with their labels, the query, the prompt the LLM reads (image tokens and labels highlighted) and the
// model's answer.
import { api, type Info, type FewshotResult } from './api.js';
import { h, clear } from './dom.js';

export class FewshotView {
  readonly root: HTMLElement;
  private readonly err = h('div', { id: 'fewshot-error', class: 'error', role: 'alert', hidden: true });
  private readonly out = h('div', { id: 'fewshot-out' });
  private readonly ways = h('input', { id: 'fewshot-ways', type: 'number', min: 2, max: 20, value: 2 });
  private readonly shots = h('input', { id: 'fewshot-shots', type: 'number', min: 1, max: 10, value: 1 });
  private readonly seed = h('input', { id: 'fewshot-seed', type: 'number', min: 0, value: 0 });
  private readonly protocol = h('select', { id: 'fewshot-protocol' },
    h('option', { value: 'paper' }, 'paper: the paper\'s prompt'), h('option', { value: 'reference' }, 'reference: the reference code\'s prompt'));
  private readonly induction = h('input', { id: 'fewshot-induction', type: 'checkbox', checked: true });
  private readonly go = h('button', { id: 'fewshot-run', class: 'button primary' }, 'Run an episode');

  constructor(info: Info) {
    this.go.addEventListener('click', () => void this.run());
    this.root = h('section', { id: 'fewshot-view', hidden: true },
      h('p', { class: 'hint' }, `Few-shot classification (paper §4.1): each image becomes its ${info.globalTokens} global tokens, words the LLM reads; `,
        'the prompt shows the support images\' tokens with their class names, then the query\'s, and the LLM names the class. ',
        `Episodes are drawn (seeded) from the server's dataset of ${info.fewshot?.classes ?? 0} classes; the answer is constrained to the episode's class names.`),
      h('div', { class: 'controls' },
        h('label', {}, 'Ways ', this.ways), h('label', {}, 'Shots ', this.shots), h('label', {}, 'Seed ', this.seed),
        h('label', {}, 'Prompt ', this.protocol), h('label', {}, this.induction, ' induction sentence'), this.go),
      this.err, this.out);
  }

  private async run(): Promise<void> {
    this.err.hidden = true;
    this.go.disabled = true;
    clear(this.out);
    this.out.append(h('div', { class: 'status' }, 'Tokenizing the images and asking the LLM…'));
    try {
      const r = await api.fewshot({
        ways: Number(this.ways.value), shots: Number(this.shots.value), seed: Number(this.seed.value),
        protocol: this.protocol.value, induction: this.induction.checked,
      });
      this.show(r);
    } catch (e) {
      clear(this.out);
      this.err.textContent = e instanceof Error ? e.message : String(e);
      this.err.hidden = false;
    } finally {
      this.go.disabled = false;
    }
  }

  private show(r: FewshotResult): void {
    clear(this.out);
    const card = (thumb: string, title: string, tokens: string[], cls: string) => h('figure', { class: `shot ${cls}` },
      h('img', { src: thumb, alt: title }), h('figcaption', {}, h('b', {}, title), h('div', { class: 'tokens' }, tokens.join(' · '))));
    this.out.append(h('div', { class: 'shots' },
      ...r.support.map((s, i) => card(s.thumb, `${i + 1}. ${s.label}`, s.globalTexts, 'support')),
      card(r.query.thumb, 'query', r.query.globalTexts, 'query')));
    const prompt = h('pre', { id: 'fewshot-prompt', class: 'prompt' });
    for (const s of r.segments) {
      if (s.kind === 'bos') prompt.append(h('span', { class: 'seg-bos', title: 'beginning-of-sequence token' }, '<s>'));
      else if (s.kind === 'image') {
        const lead = /^\s*/.exec(s.text)![0];
        prompt.append(lead, h('span', { class: `seg-image${s.ref === -1 ? ' query' : ''}`, title: s.ref === -1 ? 'the query image\'s global tokens' : `support image ${(s.ref ?? 0) + 1}'s global tokens` }, s.text.slice(lead.length)));
      } else if (s.kind === 'label') {
        const lead = /^\s*/.exec(s.text)![0]; // the piece's own leading space stays outside the mark
        prompt.append(lead, h('span', { class: 'seg-label', title: 'class name' }, s.text.slice(lead.length)));
      }
      else if (s.kind === 'instruction') prompt.append(h('span', { class: 'seg-instruction' }, s.text));
      else prompt.append(s.text);
    }
    prompt.append(' ', h('span', { id: 'fewshot-answer', class: `seg-answer ${r.correct ? 'right' : 'wrong'}`, title: 'the model\'s answer' }, r.answer.trim()));
    this.out.append(
      h('div', { class: 'label' }, `The prompt (${r.promptTokens} tokens; `, h('span', { class: 'seg-image' }, 'image tokens'), ', ', h('span', { class: 'seg-label' }, 'labels'), ', ', h('span', { class: 'seg-answer right' }, 'answer'), '):'),
      prompt,
      h('details', { id: 'fewshot-prompt-ids', hidden: !r.promptIds }, h('summary', {}, 'The prompt as token ids (what the LLM is given)'), h('code', {}, (r.promptIds ?? []).join(' '))),
      h('p', { id: 'fewshot-verdict', class: `verdict ${r.correct ? 'right' : 'wrong'}` },
        `The model answers “${r.answer.trim()}”: ${r.correct ? 'correct' : `wrong (the query is ${r.truth})`}.`,
        r.llm ? ` ${r.llm.calls} LLM call${r.llm.calls === 1 ? '' : 's'}, ${r.llm.evaluatedTokens} tokens evaluated, ${r.llm.reusedTokens} reused.` : ''),
      ...r.notes.map((n) => h('p', { class: 'muted note' }, n)));
  }
}
