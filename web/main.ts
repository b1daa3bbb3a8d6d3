// The v2l viewer's page: asks the server what it runs, says so (a stand-in CLIP is named as such), and
// shows the tabs. Restoration and few-shot tabs appear only when the server can run them (an LLM model,
// an image folder, a labelled dataset).
import { api } from './api.js';
import { h, byId } from './dom.js';
import { TokensView } from './tokens-view.js';
import { CodebookView } from './codebook-view.js';
import { RestoreView } from './restore-view.js';
import { FewshotView } from './fewshot-view.js';

/** Builds the page over the back end in use (`api`): the HTTP API of `v2l serve`, or the in-browser one. */
export async function boot(): Promise<void> {
  const app = byId('app');
  let info;
  try {
    info = await api.info();
  } catch (e) {
    app.append(h('div', { class: 'error', role: 'alert' }, `Cannot reach the v2l server: ${(e as Error).message}`));
    return;
  }
  const notes = byId('model');
  notes.textContent = `${info.imageSize} px · ${info.grid}x${info.grid} local tokens of ${info.localVocabulary.toLocaleString()} · ${info.globalTokens} global tokens of ${info.globalVocabulary.toLocaleString()}` +
    `${info.llm ? ` · LLM vocabulary ${info.llm}` : ''} · CLIP ${info.clip.id ?? 'none'}`;
  if (info.demo) {
    byId('banner').append(h('div', { id: 'demo', class: 'stand-in', role: 'note' },
      h('b', {}, 'Demo tokenizer. '),
      `The built-in demo (v2l serve with no model flags): a ${info.imageSize} px network trained briefly, a toy LLM's vocabulary. ` +
      'Give --checkpoint, --codebook and --clip for a real tokenizer.'));
  }
  if (info.clip.standIn || info.codebook?.standInClip) {
    byId('banner').append(h('div', { id: 'stand-in', class: 'stand-in', role: 'note' },
      h('b', {}, 'Stand-in CLIP. '),
      `${info.clip.standIn ? `The CLIP loaded (${info.clip.id}) is a random-weight stand-in` : 'The codebook was embedded with a random-weight stand-in CLIP'}: ` +
      'global tokens and their distances carry no meaning here. Load a real CLIP (e.g. clip-vit-large-patch14) for the paper\'s behaviour.'));
  }
  const tokens = new TokensView(info);
  const views: Record<string, HTMLElement> = { tokens: tokens.root };
  const codebook = new CodebookView(info, (index, name) => {
    show('tokens');
    void tokens.fromFolder(index, name);
  });
  views.codebook = codebook.root;
  const names: [string, string][] = [['tokens', 'Tokens'], ['codebook', 'Codebook']];
  // Only what the server can do: restoration needs an LLM model and an image folder.
  if (info.tabs.restoration) {
    const restore = new RestoreView(info);
    tokens.onTokenized = (t) => restore.setCurrent(t);
    views.restore = restore.root;
    names.push(['restore', 'Restoration']);
  }
  if (info.tabs.fewshot) {
    views.fewshot = new FewshotView(info).root;
    names.push(['fewshot', 'Few-shot']);
  }
  const tabs = h('nav', { class: 'tabs', role: 'tablist' });
  const show = (key: string) => {
    for (const [k, el] of Object.entries(views)) el.hidden = k !== key;
    tabs.querySelectorAll('button').forEach((b) => b.setAttribute('aria-selected', String(b.dataset.tab === key)));
  };
  for (const [key, label] of names) tabs.append(h('button', { role: 'tab', 'data-tab': key, id: `tab-${key}`, onclick: () => show(key) }, label));
  app.append(tabs, ...Object.values(views));
  show('tokens');
  document.body.dataset.ready = '1';
}

// The static build (web/browser-main.ts) boots after the user's models are loaded; `v2l serve`'s page at once.
if (!document.querySelector('meta[name="v2l-backend"][content="browser"]')) void boot();
