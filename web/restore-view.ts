// The Restoration tab: pick an image of the server's folder, a task and a protocol; watch the frozen LLM
// predict the local tokens (streamed from the server), with the LLM's work counted, then the restored
// image beside the original and the corrupted one.
import { api, type Info, type EventStream } from './api.js';
import { h, clear } from './dom.js';

const TASKS: [string, string][] = [
  ['inpaint', 'inpainting (centre hidden)'], ['outpaint', 'outpainting (bottom hidden)'], ['deblur', 'deblurring'],
  ['rotate', 'rotation'], ['shift', 'shift'],
];

interface Queued { name: string; task: string; protocol: string; grid: number; hidden: number[]; contextImages: string[] }
interface Step { step: number; steps: number; positions: number[]; ids: number[]; texts: string[]; evaluatedTokens: number; reusedTokens: number; writeBacks: number }
interface Done {
  original: string; corrupted: string; restored: string; reconstructionOfCorrupted: string;
  accuracy: { restored: number; corrupted: number; positions: number }; corruption: Record<string, number>; steps: number;
  calls: number; evaluatedTokens: number; reusedTokens: number; seconds: number;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export class RestoreView {
  readonly root: HTMLElement;
  /** The query: an index of the server's folder, or a tokenized image's id. */
  private selected: { folder: number } | { image: string } | null = null;
  private readonly thumbs = h('div', { id: 'restore-images', class: 'thumbs' });
  private source: EventStream | null = null;
  private readonly err = h('div', { id: 'restore-error', class: 'error', role: 'alert', hidden: true });
  private readonly out = h('div', { id: 'restore-out' });
  private readonly task = h('select', { id: 'restore-task' }, ...TASKS.map(([v, l]) => h('option', { value: v }, l)));
  private readonly protocol = h('select', { id: 'restore-protocol' },
    h('option', { value: 'clean' }, 'clean: nothing of the clean image reaches the LLM'),
    h('option', { value: 'reference' }, 'reference: the reference code, which leaks the answer'));
  private readonly copies = h('input', { id: 'restore-copies', type: 'number', min: 1, max: 10, value: 10 });
  private readonly m = h('input', { id: 'restore-m', type: 'number', min: 1, max: 8, value: 2 });
  private readonly n = h('input', { id: 'restore-n', type: 'number', min: 1, max: 64, value: 16, title: 'in/outpainting: visible tokens before each step shown as the input' });
  private readonly start = h('button', { id: 'restore-start', class: 'button primary', disabled: true }, 'Restore');

  constructor(private readonly info: Info) {
    const thumbs = this.thumbs;
    this.start.addEventListener('click', () => void this.run());
    this.root = h('section', { id: 'restore-view', hidden: true },
      h('p', { class: 'hint' }, 'In-context restoration (paper §4.3): the image\'s local tokens are corrupted, and the frozen LLM, shown ',
        'in-context examples of corrupted → clean tokens, predicts the clean ones a few at a time; the decoder turns them back into pixels. ',
        'The clean protocol (default) learns deblurring, rotation and shift from other images of the folder.'),
      h('div', { class: 'label' }, info.folder ? 'Image (the one on the Tokens tab, or one of the server\'s folder):' : 'Image (tokenize one on the Tokens tab first):'), thumbs,
      h('div', { class: 'controls' },
        h('label', {}, 'Task ', this.task), h('label', {}, 'Protocol ', this.protocol),
        h('label', {}, 'In-context examples ', this.copies), h('label', {}, 'Tokens per step ', this.m),
        h('label', {}, 'Window (in/outpainting) ', this.n), this.start),
      this.err, this.out);
    if (info.folder) void this.fill(thumbs);
  }

  private pick(b: HTMLElement, sel: { folder: number } | { image: string }): void {
    this.selected = sel;
    this.thumbs.querySelectorAll('.thumb').forEach((t) => t.classList.toggle('selected', t === b));
    this.start.disabled = false;
  }

  /** Offers the image just tokenized on the Tokens tab (first in the row, replacing the previous one). */
  setCurrent(t: { image: string; name: string; original: string }): void {
    this.thumbs.querySelector('.thumb.current')?.remove();
    const b: HTMLElement = h('button', { class: 'thumb current', title: `${t.name} (from the Tokens tab)`, 'data-image': t.image, onclick: () => this.pick(b, { image: t.image }) },
      h('img', { src: t.original, alt: t.name }), h('span', { class: 'rank' }, 'this'));
    this.thumbs.prepend(b);
    if (this.selected && 'image' in this.selected) this.pick(b, { image: t.image });
  }

  private async fill(thumbs: HTMLElement): Promise<void> {
    try {
      const list = await api.folder();
      for (const img of list.images.slice(0, 60)) {
        const b: HTMLElement = h('button', { class: 'thumb', title: img.name, 'data-index': img.index, onclick: () => this.pick(b, { folder: img.index }) },
          h('img', { src: api.thumb(img.index), alt: img.name, loading: 'lazy' }));
        thumbs.append(b);
      }
    } catch (e) {
      this.showError(e);
    }
  }

  private showError(e: unknown): void {
    this.err.textContent = e instanceof Error ? e.message : String(e);
    this.err.hidden = false;
  }

  private async run(): Promise<void> {
    if (this.selected === null) return;
    this.err.hidden = true;
    this.source?.close();
    this.start.disabled = true;
    clear(this.out);
    let jobId: string;
    try {
      jobId = (await api.restore({
        ...this.selected, task: this.task.value, protocol: this.protocol.value, copies: Number(this.copies.value), m: Number(this.m.value), n: Number(this.n.value),
      })).job;
    } catch (e) {
      this.showError(e);
      this.start.disabled = false;
      return;
    }
    const status = h('div', { id: 'restore-status', class: 'status' }, 'Queued…');
    const bar = h('progress', { id: 'restore-progress', max: 1, value: 0 });
    const fig = (id: string, caption: string) => h('figure', { id: `fig-${id}` }, h('div', { class: 'frame' }, h('span', { class: 'muted' }, '…')), h('figcaption', {}, caption));
    const panels = h('div', { class: 'restore-panels' },
      fig('original', 'Original (the tokenizer\'s crop)'), fig('corrupted', 'Corrupted: the LLM\'s predictions fill in'),
      fig('restored', 'Restored: decoded from the LLM\'s tokens'), fig('rec-corrupted', 'Corrupted tokens decoded (for comparison)'));
    this.out.append(bar, status, panels);
    let grid = 0;
    let map: HTMLElement | null = null;
    const setImage = (id: string, src: string, withMap = false) => {
      const frame = panels.querySelector(`#fig-${id} .frame`)!;
      clear(frame);
      frame.append(h('img', { src, alt: id }));
      if (withMap && map) frame.append(map);
    };
    this.err.hidden = true;
    const es = api.restoreEvents(jobId);
    this.source = es;
    const on = <T>(name: string, f: (d: T) => void) => es.addEventListener(name, (ev) => f(JSON.parse((ev as MessageEvent<string>).data) as T));
    on<Queued>('queued', (q) => {
      grid = q.grid;
      map = h('div', { class: 'map restore-map' });
      map.style.gridTemplateColumns = `repeat(${grid}, 1fr)`;
      q.hidden.forEach((hid, i) => map!.append(h('div', { class: `cell${hid ? ' hidden-cell' : ''}`, 'data-pos': i }, h('span', {}))));
      status.textContent = `Queued: ${q.task} of ${q.name}, ${q.protocol} protocol${q.contextImages.length ? `; examples from ${q.contextImages.length} other images` : ''}…`;
    });
    on<{ original: string; corrupted: string }>('start', (s) => {
      setImage('original', s.original);
      setImage('corrupted', s.corrupted, true);
      status.textContent = 'Encoding the tokens and asking the LLM…';
    });
    on<Step>('step', (s) => {
      bar.max = s.steps;
      bar.value = s.step;
      s.positions.forEach((p, i) => {
        const cell = map?.querySelector<HTMLElement>(`[data-pos="${p}"]`);
        if (!cell) return;
        cell.classList.add('predicted');
        cell.title = `${s.texts[i]} (#${s.ids[i]})`;
        cell.firstElementChild!.textContent = s.texts[i];
      });
      status.textContent = `Step ${s.step} of ${s.steps}: ${s.writeBacks * s.ids.length} tokens predicted so far; ${s.evaluatedTokens.toLocaleString()} prompt tokens evaluated, ${s.reusedTokens.toLocaleString()} reused from the KV cache.`;
    });
    on<Done>('done', (d) => {
      setImage('original', d.original);
      setImage('restored', d.restored);
      setImage('rec-corrupted', d.reconstructionOfCorrupted);
      bar.value = bar.max;
      const params = Object.entries(d.corruption).map(([k, v]) => `${k} ${v}`).join(', ');
      status.textContent = `Done in ${d.seconds} s: ${d.steps} steps, ${d.calls.toLocaleString()} LLM calls, ${d.evaluatedTokens.toLocaleString()} prompt tokens evaluated and ${d.reusedTokens.toLocaleString()} reused. ` +
        `Token accuracy on the ${d.accuracy.positions} predicted positions: ${pct(d.accuracy.restored)} restored vs ${pct(d.accuracy.corrupted)} corrupted${params ? ` (${params})` : ''}.`;
      status.classList.add('done');
    });
    on<{ message: string }>('error', (e) => this.showError(new Error(`restoration failed: ${e.message}`)));
    es.addEventListener('end', () => {
      es.close();
      this.start.disabled = false;
    });
    es.onerror = () => {
      if (es.readyState === 2) return; // closed
      es.close();
      this.start.disabled = false;
      if (!status.classList.contains('done')) this.showError(new Error('lost the connection to the server during the restoration'));
    };
  }
}
