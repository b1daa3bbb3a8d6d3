// The static build's page: v2l entirely in the browser. The user chooses (or drops) the tokenizer export
// (`v2l export-onnx`), the codebook package, a CLIP in the Hugging Face ONNX layout and, for few-shot and
// restoration, a GGUF LLM; the files are kept in the page's own storage (OPFS) so a reload does not ask
// again, and never leave the machine. Once loaded, the same viewer as `v2l serve` (./main.ts) runs over
// the in-browser back end (src/browser/local-api.ts).
import { h, byId, clear } from './dom.js';
import { useApi } from './api.js';
import { boot } from './main.js';
import { ModelStore, ROLES, type Role, type StoredFile } from '../src/browser/store.js';
import { loadBrowserModels, type LoadedModels } from '../src/browser/load.js';
import { isZipFile, unpackPackage } from '../src/browser/package-zip.js';

const LABELS: Record<Role, [string, string]> = {
  tokenizer: ['Tokenizer export', 'every file `v2l export-onnx` wrote: encoder.onnx, decoder.onnx, local_search.onnx, global_search.onnx, projected_local_codebook.f32, manifest.json'],
  codebook: ['Codebook package', 'manifest.json, local.safetensors, global.safetensors, local.json, global.json'],
  clip: ['CLIP (Hugging Face ONNX layout)', 'config.json, preprocessor_config.json, vision_model.onnx (text_model.onnx, tokenizer.json, tokenizer_config.json for texts)'],
  llm: ['LLM (GGUF), optional', 'a .gguf model: enables few-shot and restoration'],
  fewshot: ['Labelled images, optional', 'a folder of class folders (<class>/<image>) for few-shot episodes (with an LLM)'],
};
const REQUIRED: readonly Role[] = ['tokenizer', 'codebook', 'clip'];
const PACKAGE_LABEL: [string, string] = ['V2L package (zip)', 'a zip of the tokenizer export and the codebook package, each in its own folder (e.g. onnx/ and codebook/): instead of choosing both below'];

const mb = (n: number) => `${(n / 1048576).toFixed(n < 1048576 ? 2 : 1)} MB`;

async function main(): Promise<void> {
  const panel = byId('models');
  const store = await ModelStore.open();
  const status = h('div', { id: 'models-status', class: 'status' });
  const bar = h('progress', { id: 'models-progress', max: 1, value: 0, hidden: true });
  const error = h('div', { id: 'models-error', class: 'error', role: 'alert', hidden: true });
  const runtime = h('div', { id: 'runtime', class: 'muted' });
  const lists = {} as Record<Role, HTMLElement>;
  let loaded: LoadedModels | null = null;
  let busy = false;

  const showError = (e: unknown) => {
    error.textContent = e instanceof Error ? e.message : String(e);
    error.hidden = false;
  };
  const progress = (what: string, done?: number, total?: number) => {
    status.textContent = what;
    bar.hidden = done === undefined;
    if (done !== undefined && total) {
      bar.max = total;
      bar.value = done;
    }
  };
  const describe = async (role: Role) => {
    const files = await store.get(role);
    lists[role].textContent = !files.length ? 'none chosen' : role === 'fewshot'
      ? `${files.length} images in ${new Set(files.map((f) => f.name.split('/')[0])).size} classes`
      : files.map((f) => `${f.name} (${mb(f.file.size)})`).join(', ');
    return files;
  };

  const tryLoad = async () => {
    if (busy || loaded) return;
    const files = {} as Record<Role, StoredFile[]>;
    for (const r of ROLES) files[r] = await describe(r);
    const missing = REQUIRED.filter((r) => !files[r].length);
    if (missing.length) {
      progress(`Choose ${missing.map((r) => LABELS[r][0].toLowerCase()).join(', ')} to start. ${store.persistent ? 'Files are kept in this browser for the next visit.' : 'This browser cannot keep them: they are held for this page only.'}`);
      return;
    }
    busy = true;
    error.hidden = true;
    try {
      loaded = await loadBrowserModels(files, { assetsUrl: new URL('.', location.href).href, device: new URLSearchParams(location.search).get('device') === 'webgpu' ? 'webgpu' : 'wasm', onProgress: progress });
      runtime.textContent = loaded.runtimeText;
      document.body.dataset.threads = String(loaded.threads);
      document.body.dataset.webgpu = String(loaded.webgpu);
      progress(`Loaded in ${loaded.seconds.toFixed(1)} s.`);
      panel.querySelector('details')?.removeAttribute('open');
      useApi(loaded.api);
      await boot();
    } catch (e) {
      showError(e);
      progress('Not loaded: choose the right files (the message below says which).');
    } finally {
      busy = false;
    }
  };

  // A zip (the package row's, or one given for the export or the codebook) is unpacked into the export's
  // and the codebook's files, which are then kept as if chosen one by one.
  const choosePackage = async (zip: File) => {
    error.hidden = true;
    progress(`Reading ${zip.name}…`);
    let unpacked;
    try {
      unpacked = unpackPackage(new Uint8Array(await zip.arrayBuffer()), zip.name);
    } catch (e) {
      showError(e);
      progress('Not loaded: choose the right files (the message below says which).');
      return;
    }
    const roles = (['codebook', 'tokenizer'] as const).filter((r) => unpacked[r]);
    for (const r of roles) await choose(r, unpacked[r]!, roles.length > 1 && r !== roles[roles.length - 1]);
  };

  const choose = async (role: Role, chosen: FileList | File[] | StoredFile[], more = false) => {
    // Labelled images keep their path under the chosen folder (class/file); model files their names.
    const files = Array.from(chosen as ArrayLike<File | StoredFile>).map((f) => f instanceof File ? {
      name: role === 'fewshot' ? (f.webkitRelativePath || f.name).split('/').slice(1).join('/') || f.name : f.name, file: f as Blob,
    } : f);
    if (!files.length) return;
    if ((role === 'tokenizer' || role === 'codebook') && files.length === 1 && await isZipFile(files[0].name, files[0].file)) {
      await choosePackage(files[0].file as File);
      return;
    }
    if (loaded) {
      // Models in use are replaced by a fresh page over the new files (kept in storage).
      await store.put(role, files);
      if (!more) location.reload();
      return;
    }
    error.hidden = true;
    progress(`Keeping ${files.length} file(s) for ${LABELS[role][0].toLowerCase()}…`, 0, 1);
    try {
      await store.put(role, files, (d, t) => progress(`Keeping ${LABELS[role][0].toLowerCase()}: ${mb(d)} of ${mb(t)}`, d, t));
    } catch (e) {
      showError(new Error(`cannot keep the files in this browser's storage: ${(e as Error).message}`));
      return;
    }
    if (more) await describe(role);
    else await tryLoad();
  };

  // One choice at a time: a role's files are stored before the next choice (or a load) reads them.
  let chain: Promise<void> = Promise.resolve();
  const queue = (role: Role | 'package', chosen: File[]) => {
    chain = chain.then(() => role === 'package' ? (chosen[0] ? choosePackage(chosen[0]) : undefined) : choose(role, chosen)).catch(showError);
  };

  const rows = ROLES.map((role) => {
    const input = h('input', { type: 'file', id: `pick-${role}`, multiple: role !== 'llm', accept: role === 'llm' ? '.gguf' : undefined, webkitdirectory: role === 'fewshot' });
    input.addEventListener('change', () => queue(role, Array.from(input.files ?? [])));
    lists[role] = h('span', { id: `files-${role}`, class: 'muted' });
    const row = h('div', { class: 'model-role', 'data-role': role },
      h('label', { for: `pick-${role}` }, h('b', {}, LABELS[role][0])), ' ', input, h('div', { class: 'muted small' }, LABELS[role][1]), lists[role]);
    row.addEventListener('dragover', (ev) => ev.preventDefault());
    row.addEventListener('drop', (ev) => {
      ev.preventDefault();
      queue(role, Array.from(ev.dataTransfer?.files ?? []));
    });
    return row;
  });
  const packageRow = (() => {
    const input = h('input', { type: 'file', id: 'pick-package', accept: '.zip,application/zip' });
    input.addEventListener('change', () => queue('package', Array.from(input.files ?? [])));
    const row = h('div', { class: 'model-role', 'data-role': 'package' },
      h('label', { for: 'pick-package' }, h('b', {}, PACKAGE_LABEL[0])), ' ', input, h('div', { class: 'muted small' }, PACKAGE_LABEL[1]));
    row.addEventListener('dragover', (ev) => ev.preventDefault());
    row.addEventListener('drop', (ev) => {
      ev.preventDefault();
      queue('package', Array.from(ev.dataTransfer?.files ?? []));
    });
    return row;
  })();
  const forget = h('button', {
    id: 'models-forget', onclick: async () => {
      for (const r of ROLES) await store.clear(r);
      location.reload();
    },
  }, 'Forget the files');
  clear(panel);
  panel.append(h('details', { open: true },
    h('summary', {}, 'Your models: kept in this browser, never uploaded'),
    packageRow, ...rows, forget, runtime), bar, status, error);
  await tryLoad();
}

void main();
