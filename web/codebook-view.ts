// The Codebook tab: search the global vocabulary; for an entry, the images of the server's folder whose
// global tokens include it (the paper's semantic interpretation, browsable).
import { api, type Info, type EntryImages } from './api.js';
import { h, clear } from './dom.js';

export class CodebookView {
  readonly root: HTMLElement;
  private readonly list = h('div', { id: 'entries', class: 'entries' });
  private readonly detail = h('div', { id: 'entry-detail', class: 'entry-detail' });
  private readonly err = h('div', { id: 'codebook-error', class: 'error', role: 'alert', hidden: true });
  private seq = 0;
  private poll: number | null = null;

  constructor(private readonly info: Info, private readonly openImage: (index: number, name: string) => void) {
    const q = h('input', { id: 'codebook-search', type: 'search', placeholder: 'search the global vocabulary, e.g. dog', autocomplete: 'off' });
    q.addEventListener('input', () => void this.search(q.value));
    this.root = h('section', { id: 'codebook-view', hidden: true },
      h('p', { class: 'hint' }, `The global codebook: ${info.globalVocabulary} entries of the LLM's vocabulary (words and short phrases) embedded by CLIP's text encoder. `,
        info.folder ? 'Pick an entry to see which images of the server\'s folder have it among their global tokens.' : 'Start the server with --images <dir> to see which images each entry describes.'),
      q, this.err, h('div', { class: 'codebook' }, this.list, this.detail));
    void this.search('');
  }

  private async search(q: string): Promise<void> {
    const mine = ++this.seq;
    try {
      const page = await api.codebook(q.trim(), 0);
      if (mine !== this.seq) return;
      clear(this.list);
      this.list.append(h('div', { class: 'muted' }, q.trim() ? `${page.total} ${page.total === 1 ? 'entry matches' : 'entries match'} “${q.trim()}”` : `${page.total} entries (the first ${page.entries.length} shown; search to find others)`));
      for (const e of page.entries) {
        this.list.append(h('button', { class: 'entry', 'data-id': e.id, onclick: () => void this.open(e.id) },
          h('span', { class: 'tok' }, e.text), h('small', {}, ` #${e.id}${e.count ? ` · ${e.count} hits when built` : ''}`)));
      }
      this.err.hidden = true;
    } catch (e) {
      this.showError(e);
    }
  }

  private showError(e: unknown): void {
    this.err.textContent = e instanceof Error ? e.message : String(e);
    this.err.hidden = false;
  }

  private async open(id: number): Promise<void> {
    if (this.poll !== null) window.clearTimeout(this.poll);
    this.poll = null;
    this.list.querySelectorAll<HTMLElement>('button.entry').forEach((b) => b.classList.toggle('selected', b.dataset.id === String(id)));
    if (!this.info.folder) {
      clear(this.detail);
      this.detail.append(h('p', { class: 'muted' }, 'No image folder: start `v2l serve` with --images <dir>.'));
      return;
    }
    try {
      this.show(await api.entryImages(id));
    } catch (e) {
      this.showError(e);
    }
  }

  private show(r: EntryImages): void {
    clear(this.detail);
    this.detail.append(h('h3', {}, `“${r.entry.text}”`, h('small', {}, ` #${r.entry.id}`)),
      h('p', { id: 'entry-status', class: 'muted' }, r.status === 'ready'
        ? `${r.images.length} of ${r.total} images have it among their ${this.info.globalTokens} global tokens${r.failed ? ` (${r.failed} images could not be read)` : ''}.`
        : `Indexing the folder's global tokens: ${r.done} of ${r.total} images so far; ${r.images.length} found.`));
    const grid = h('div', { id: 'entry-images', class: 'thumbs' });
    for (const img of r.images) {
      grid.append(h('button', { class: 'thumb', title: `${img.name}: global token ${img.rank}, distance ${img.distance.toFixed(3)}`, onclick: () => this.openImage(img.index, img.name) },
        h('img', { src: api.thumb(img.index), alt: img.name }), h('span', { class: 'rank' }, `#${img.rank}`)));
    }
    this.detail.append(grid);
    if (r.status !== 'ready') {
      this.poll = window.setTimeout(() => void this.open(r.entry.id), 1000);
    }
  }
}
