// The user's model files, kept in the page's Origin Private File System so that a reload does not ask for
// them again (nothing leaves the machine: OPFS is the browser's own storage for this origin). One folder
// per role; a role's files are replaced as a whole when the user chooses new ones. Where OPFS is
// unavailable (private windows, old browsers) the files are held for this page only.
export type Role = 'tokenizer' | 'codebook' | 'clip' | 'llm' | 'fewshot';
export const ROLES: readonly Role[] = ['tokenizer', 'codebook', 'clip', 'llm', 'fewshot'];

export interface StoredFile {
  /** The file's name, or its path under the chosen folder (`class/file` for labelled images). */
  name: string;
  file: Blob;
}

export class ModelStore {
  private readonly memory = new Map<Role, StoredFile[]>();

  private constructor(private readonly root: FileSystemDirectoryHandle | null) {}

  static async open(): Promise<ModelStore> {
    try {
      const root = await navigator.storage.getDirectory();
      return new ModelStore(await root.getDirectoryHandle('v2l-models', { create: true }));
    } catch {
      return new ModelStore(null);
    }
  }

  /** Whether files survive a reload here. */
  get persistent(): boolean {
    return this.root !== null;
  }

  /** Keeps `files` as the role's files (streamed to storage, never read whole into memory here). */
  async put(role: Role, files: readonly StoredFile[], onProgress?: (done: number, total: number) => void): Promise<StoredFile[]> {
    if (!this.root) {
      this.memory.set(role, [...files]);
      return [...files];
    }
    await this.root.removeEntry(role, { recursive: true }).catch(() => undefined);
    const dir = await this.root.getDirectoryHandle(role, { create: true });
    const total = files.reduce((n, f) => n + f.file.size, 0);
    let done = 0;
    for (const f of files) {
      const fh = await dir.getFileHandle(encodeURIComponent(f.name), { create: true }); // a path's '/' is no name character
      const w = await fh.createWritable();
      await w.write(f.file);
      await w.close();
      done += f.file.size;
      onProgress?.(done, total);
    }
    return this.get(role);
  }

  /** The role's files as kept (empty when none). */
  async get(role: Role): Promise<StoredFile[]> {
    if (!this.root) return this.memory.get(role) ?? [];
    let dir: FileSystemDirectoryHandle;
    try {
      dir = await this.root.getDirectoryHandle(role);
    } catch {
      return [];
    }
    const out: StoredFile[] = [];
    for await (const [name, handle] of (dir as unknown as AsyncIterable<[string, FileSystemHandle]>)) {
      if (handle.kind === 'file') out.push({ name: decodeURIComponent(name), file: await (handle as FileSystemFileHandle).getFile() });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async clear(role: Role): Promise<void> {
    this.memory.delete(role);
    await this.root?.removeEntry(role, { recursive: true }).catch(() => undefined);
  }
}
