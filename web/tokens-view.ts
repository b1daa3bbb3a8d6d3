// The Tokens tab: drop or choose an image; see its global tokens, the local-token map over the
// preprocessed image, the reconstruction; click a cell (or a global token) to replace it and see the
// image decoded again.
import { api, ApiError, type Info, type Tokenized, type TokenView } from './api.js';
import { h, clear, byId } from './dom.js';

type Target = { kind: 'local'; row: number; col: number } | { kind: 'global'; index: number };

interface State {
  t: Tokenized;
  local: number[][];
  global: number[];
  /** Text of each chosen id (for edited entries, the replacement's). */
  localText: Map<number, string>;
  globalText: Map<number, string>;
  target: Target | null;
}

const fmt = (d: number) => d.toFixed(3);

export class TokensView {
  private state: State | null = null;
  private busy = false;
  private decodeSeq = 0;
  readonly root: HTMLElement;
  private readonly err = h('div', { id: 'error', class: 'error', role: 'alert', hidden: true });
  private readonly status = h('div', { id: 'status', class: 'status', 'aria-live': 'polite' });
  private readonly result = h('div', { id: 'result', class: 'result' });
  private readonly tooltip = h('div', { id: 'tooltip', class: 'tooltip', role: 'tooltip', hidden: true });
  private readonly fileInput = h('input', { type: 'file', id: 'file', accept: 'image/*' });

  /** Called with each newly tokenized image (the Restoration tab offers it). */
  onTokenized: ((t: { image: string; name: string; original: string }) => void) | null = null;

  constructor(private readonly info: Info) {
    const drop = h('div', { id: 'drop', class: 'drop', tabindex: 0 },
      h('strong', {}, 'Drop an image here'), ' or ',
      h('label', { class: 'button', for: 'file' }, 'choose a file'), this.fileInput,
      h('div', { class: 'hint' }, `Any PNG, JPEG, GIF, WebP, BMP, TIFF or AVIF up to ${(info.limits.maxUploadBytes / 1048576).toFixed(0)} MB and ${(info.limits.maxPixels / 1e6).toFixed(0)} MP. `,
        `It is resized and centre-cropped to ${info.imageSize}x${info.imageSize} px: ${info.grid}x${info.grid} local tokens and ${info.globalTokens} global tokens.`));
    this.fileInput.addEventListener('change', () => {
      const f = this.fileInput.files?.[0];
      if (f) void this.upload(f);
      this.fileInput.value = '';
    });
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      const f = e.dataTransfer?.files?.[0];
      if (f) void this.upload(f);
    });
    const strip = h('div', { id: 'folder', class: 'folder' });
    this.root = h('section', { id: 'tokens-view' }, drop, strip, this.status, this.err, this.result, this.tooltip);
    if (info.folder) void this.fillFolder(strip);
  }

  private async fillFolder(strip: HTMLElement): Promise<void> {
    try {
      const list = await api.folder();
      strip.append(h('div', { class: 'hint' }, `Or pick one of the ${list.images.length}${list.truncated ? '+' : ''} images of the server's folder:`));
      const row = h('div', { class: 'thumbs' });
      for (const img of list.images.slice(0, 60)) {
        row.append(h('button', { class: 'thumb', title: img.name, onclick: () => void this.fromFolder(img.index, img.name) },
          h('img', { src: api.thumb(img.index), alt: img.name, loading: 'lazy' })));
      }
      strip.append(row);
    } catch (e) {
      this.showError(e);
    }
  }

  async fromFolder(index: number, name: string): Promise<void> {
    await this.run(`Tokenizing ${name}…`, () => api.tokenizeFolder(index));
  }

  private async upload(file: File): Promise<void> {
    if (file.size > this.info.limits.maxUploadBytes) {
      this.showError(new ApiError(413, `${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the server takes at most ${(this.info.limits.maxUploadBytes / 1048576).toFixed(0)} MB`));
      return;
    }
    await this.run(`Tokenizing ${file.name}…`, () => api.tokenizeFile(file, file.name));
  }

  private async run(message: string, job: () => Promise<Tokenized>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.hideError();
    this.status.textContent = message;
    document.body.classList.add('working');
    try {
      const t = await job();
      this.state = {
        t, local: t.local.map((row) => row.map((c) => c.id)), global: t.global.map((g) => g.id),
        localText: new Map(), globalText: new Map(), target: null,
      };
      for (const row of t.local) for (const c of row) this.state.localText.set(c.id, c.text);
      for (const g of [...t.global, ...t.globalAlternatives]) this.state.globalText.set(g.id, g.text);
      this.onTokenized?.({ image: t.image, name: t.name, original: t.original });
      this.status.textContent = `${t.name}: ${t.source.format.toUpperCase()} ${t.source.width}x${t.source.height} → ${t.size}x${t.size} px, ${t.grid}x${t.grid} local tokens. Hover a cell for its token; click it to replace it.`;
      this.render();
    } catch (e) {
      // The previous image's view would read as this one's: clear it.
      this.status.textContent = '';
      this.state = null;
      this.lastEdited = null;
      clear(this.result);
      this.showError(e);
    } finally {
      this.busy = false;
      document.body.classList.remove('working');
    }
  }

  private showError(e: unknown): void {
    this.err.textContent = e instanceof Error ? e.message : String(e);
    this.err.hidden = false;
  }

  private hideError(): void {
    this.err.hidden = true;
    this.err.textContent = '';
  }

  private render(): void {
    const s = this.state!;
    const t = s.t;
    clear(this.result);
    const globals = h('div', { id: 'global-tokens', class: 'chips' },
      h('span', { class: 'label' }, 'Global tokens (nearest first):'),
      ...s.global.map((id, i) => {
        const orig = t.global[i];
        const edited = id !== orig.id;
        return h('button', {
          class: `chip${edited ? ' edited' : ''}${s.target?.kind === 'global' && s.target.index === i ? ' selected' : ''}`,
          'data-index': i, 'data-id': id,
          title: edited ? `edited: was ${orig.text} (#${orig.id})` : `#${orig.id}, distance ${fmt(orig.distance)} to the CLIP image embedding`,
          onclick: () => this.select({ kind: 'global', index: i }),
        }, h('span', { class: 'tok' }, s.globalText.get(id) ?? `#${id}`), h('span', { class: 'dist' }, edited ? 'edited' : fmt(orig.distance)));
      }));

    const map = h('div', { id: 'token-map', class: 'map', tabindex: 0, role: 'grid', 'aria-label': 'local tokens: arrow keys move, Enter replaces the token' });
    map.style.gridTemplateColumns = `repeat(${t.grid}, 1fr)`; // CSSOM, which the page's CSP allows (style attributes it does not)
    t.local.forEach((row, r) => row.forEach((cell, c) => {
      const id = s.local[r][c];
      const edited = id !== cell.id;
      const text = s.localText.get(id) ?? `#${id}`;
      const el = h('div', {
        class: `cell${edited ? ' edited' : ''}${s.target?.kind === 'local' && s.target.row === r && s.target.col === c ? ' selected' : ''}`,
        'data-row': r, 'data-col': c, 'data-id': id,
      }, h('span', {}, text));
      el.addEventListener('mouseenter', () => this.showTooltip(el, r, c));
      el.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
      el.addEventListener('click', () => this.select({ kind: 'local', row: r, col: c }));
      map.append(el);
    }));
    // Keyboard: arrows move a cursor (its tooltip shown), Enter or Space opens the cell in the editor.
    const cellAt = (r: number, c: number) => map.querySelector<HTMLElement>(`.cell[data-row="${r}"][data-col="${c}"]`)!;
    const moveTo = (r: number, c: number) => {
      map.querySelector('.cell.cursor')?.classList.remove('cursor');
      this.cursor = { r, c };
      const el = cellAt(r, c);
      el.classList.add('cursor');
      this.showTooltip(el, r, c);
    };
    map.addEventListener('focus', () => moveTo(this.cursor.r, this.cursor.c));
    map.addEventListener('blur', () => { this.tooltip.hidden = true; });
    map.addEventListener('keydown', (e) => {
      const g = t.grid;
      const { r, c } = this.cursor;
      const step: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (step[e.key]) {
        e.preventDefault();
        moveTo(Math.min(g - 1, Math.max(0, r + step[e.key][0])), Math.min(g - 1, Math.max(0, c + step[e.key][1])));
      } else if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.select({ kind: 'local', row: r, col: c });
      }
    });
    const showMap = h('input', { type: 'checkbox', id: 'show-map', checked: true });
    const stage = h('div', { class: 'stage' }, h('img', { id: 'original', src: t.original, alt: 'preprocessed input' }), map);
    showMap.addEventListener('change', () => stage.classList.toggle('hide-map', !showMap.checked));
    // Shade each cell by its distance to the encoder output (min..max of this image): where the nearest
    // LLM token was a poor fit.
    const shade = h('input', { type: 'checkbox', id: 'shade-distance', checked: this.shade });
    const dists = t.local.flat().map((c) => c.distance);
    const lo = Math.min(...dists);
    const span = Math.max(...dists) - lo || 1;
    const applyShade = () => {
      map.querySelectorAll<HTMLElement>('.cell').forEach((el) => {
        const cell = t.local[Number(el.dataset.row)][Number(el.dataset.col)];
        el.style.backgroundColor = this.shade ? `rgba(224, 49, 49, ${(0.6 * (cell.distance - lo) / span).toFixed(3)})` : '';
      });
    };
    shade.addEventListener('change', () => {
      this.shade = shade.checked;
      applyShade();
    });
    applyShade();

    const edits = this.editCount();
    const right = h('div', { class: 'side' },
      h('figure', {}, h('img', { id: 'reconstruction', src: t.reconstruction, alt: 'reconstruction' }),
        h('figcaption', {}, 'Reconstruction from the tokens: ', h('b', { id: 'psnr' }, `PSNR ${t.psnr.toFixed(2)} dB`))),
      h('figure', { id: 'edited-figure', hidden: !this.lastEdited },
        h('img', { id: 'edited', src: this.lastEdited?.src ?? '', alt: 'decoded after your edits' }),
        h('figcaption', { id: 'edited-caption' }, this.lastEdited?.caption ?? '')),
      h('figure', { id: 'difference-figure', class: 'small', hidden: !this.lastEdited?.difference },
        h('img', { id: 'difference', src: this.lastEdited?.difference ?? '', alt: 'where the edits changed the picture' }),
        h('figcaption', {}, this.lastEdited?.diffCaption ?? '')),
      edits.local + edits.global ? h('button', { id: 'reset-all', class: 'button', onclick: () => this.resetAll() }, edits.local + edits.global === 1 ? 'Undo the edit' : `Undo all ${edits.local + edits.global} edits`) : null);

    this.result.append(globals,
      h('div', { class: 'views' },
        h('div', { class: 'main' }, stage,
          h('label', { class: 'toggle' }, showMap, ' show the local-token map'),
          h('label', { class: 'toggle' }, shade, ` shade cells by distance to the encoder output (${lo.toFixed(3)} clear … ${(lo + span).toFixed(3)} red)`),
          h('div', { class: 'legend' }, this.info.localText === 'llm-pieces'
            ? 'Cells show the LLM\'s raw pieces: ▁ is a word-initial space, <0x..> a byte.'
            : 'Cells show the codebook\'s token texts (start with --llm <gguf> to see the LLM\'s raw pieces).')),
        right),
      this.editor());
  }

  private lastEdited: { src: string; caption: string; difference?: string; diffCaption?: string } | null = null;
  private cursor = { r: 0, c: 0 };
  private shade = false;

  private editCount(): { local: number; global: number } {
    const s = this.state!;
    let local = 0;
    s.local.forEach((row, r) => row.forEach((id, c) => { if (id !== s.t.local[r][c].id) local++; }));
    return { local, global: s.global.filter((id, i) => id !== s.t.global[i].id).length };
  }

  private showTooltip(el: HTMLElement, r: number, c: number): void {
    const s = this.state!;
    const cell = s.t.local[r][c];
    const id = s.local[r][c];
    clear(this.tooltip);
    this.tooltip.append(
      h('div', { class: 'tt-text' }, s.localText.get(id) ?? `#${id}`),
      h('div', {}, `id ${id} · row ${r}, column ${c}`),
      id === cell.id
        ? h('div', {}, `distance to the encoder output ${fmt(cell.distance)}`)
        : h('div', {}, `edited (was ${cell.text}, id ${cell.id}, distance ${fmt(cell.distance)})`));
    const box = el.getBoundingClientRect();
    this.tooltip.hidden = false;
    this.tooltip.style.left = `${box.right + window.scrollX + 6}px`;
    this.tooltip.style.top = `${box.top + window.scrollY}px`;
  }

  private select(target: Target): void {
    this.state!.target = target;
    this.render();
    byId('edit-word').focus();
  }

  private editor(): HTMLElement {
    const s = this.state!;
    const tg = s.target;
    if (!tg) return h('div', { id: 'editor', class: 'editor muted' }, 'Click a cell of the map or a global token to replace it.');
    const isLocal = tg.kind === 'local';
    const orig: TokenView = isLocal ? s.t.local[tg.row][tg.col] : s.t.global[tg.index];
    const current = isLocal ? s.local[tg.row][tg.col] : s.global[tg.index];
    const texts = isLocal ? s.localText : s.globalText;
    const alternatives: TokenView[] = isLocal ? [orig, ...s.t.local[tg.row][tg.col].alternatives] : [orig, ...s.t.globalAlternatives.filter((a) => !s.global.includes(a.id) || a.id === current)];
    const input = h('input', { id: 'edit-word', type: 'text', placeholder: isLocal ? 'type a word or piece, e.g. sky' : 'type a word of the global vocabulary', autocomplete: 'off' });
    const matches = h('div', { id: 'matches', class: 'choices' });
    let seq = 0;
    const search = async () => {
      const q = input.value.trim();
      const mine = ++seq;
      clear(matches);
      if (!q) return;
      try {
        const r = await api.lookup(tg.kind, q);
        if (mine !== seq) return;
        if (!r.matches.length) matches.append(h('span', { class: 'muted' }, `no ${tg.kind} token matches “${q}”`));
        for (const m of r.matches) matches.append(h('button', { class: 'choice', 'data-id': m.id, onclick: () => void this.apply(tg, m.id, m.text) }, m.text, h('small', {}, ` #${m.id}`)));
      } catch (e) {
        this.showError(e);
      }
    };
    input.addEventListener('input', () => void search());
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        const first = matches.querySelector<HTMLButtonElement>('button.choice');
        first?.click();
      }
    });
    const where = isLocal ? `Local token at row ${tg.row}, column ${tg.col}` : `Global token ${tg.index + 1} of ${s.global.length}`;
    return h('div', { id: 'editor', class: 'editor' },
      h('div', { class: 'editor-head' }, h('b', {}, where), `: now “${texts.get(current) ?? `#${current}`}” (#${current}); the encoder chose “${orig.text}” (#${orig.id}, distance ${fmt(orig.distance)}).`),
      h('div', { class: 'label' }, isLocal ? 'Nearest alternatives to the encoder output:' : 'Next nearest global entries to the CLIP embedding:'),
      h('div', { id: 'alternatives', class: 'choices' }, ...alternatives.map((a) => h('button', {
        class: `choice${a.id === current ? ' selected' : ''}`, 'data-id': a.id, onclick: () => void this.apply(tg, a.id, a.text),
      }, a.text, h('small', {}, ` ${fmt(a.distance)}`)))),
      h('label', { class: 'label', for: 'edit-word' }, 'Or any token of the vocabulary:'), input, matches,
      h('div', {}, h('button', { class: 'button', onclick: () => void this.apply(tg, orig.id, orig.text) }, 'Restore the encoder\'s token'),
        ' ', h('button', { class: 'button', onclick: () => { s.target = null; this.render(); } }, 'Close')));
  }

  private async apply(tg: Target, id: number, text: string): Promise<void> {
    const s = this.state!;
    if (tg.kind === 'local') {
      s.local[tg.row][tg.col] = id;
      s.localText.set(id, text);
    } else {
      s.global[tg.index] = id;
      s.globalText.set(id, text);
    }
    await this.redecode();
  }

  private resetAll(): void {
    const s = this.state!;
    s.local = s.t.local.map((row) => row.map((c) => c.id));
    s.global = s.t.global.map((g) => g.id);
    this.lastEdited = null;
    s.target = null;
    this.render();
  }

  private async redecode(): Promise<void> {
    const s = this.state!;
    const mine = ++this.decodeSeq;
    this.render();
    const cap = byId('edited-caption');
    byId('edited-figure').hidden = false;
    cap.textContent = 'Decoding…';
    document.body.classList.add('working');
    try {
      const d = await api.decode(s.t.image, s.local, s.global);
      if (mine !== this.decodeSeq) return; // a later edit is on its way
      const n = d.changed.local + d.changed.global;
      this.lastEdited = {
        src: d.reconstruction,
        caption: n ? `After your ${n} edit${n > 1 ? 's' : ''} (${d.changed.local} local, ${d.changed.global} global): PSNR ${d.psnr.toFixed(2)} dB` : `No edits: PSNR ${d.psnr.toFixed(2)} dB`,
        difference: n ? d.difference : undefined,
        diffCaption: `Where it changed: |edited − unedited|, scaled so that the largest change (${d.maxChange} of 255) is white`,
      };
      this.hideError();
      this.render();
    } catch (e) {
      cap.textContent = '';
      this.showError(e);
    } finally {
      if (mine === this.decodeSeq) document.body.classList.remove('working');
    }
  }
}
