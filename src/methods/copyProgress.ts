import type { MethodRegistryData } from './types.ts';

/** One file of a copy as the source saw it when the copy began. */
export interface CopiedFile {
  /** Path under the copied folder (posix); empty for a single file. */
  relative: string;
  size: number;
  mtimeMs: number;
}

/** What the source keeps of a copy from its first run on, so that a restarted source resumes it. */
export interface CopyRecord {
  copyId: string;
  srcPath: string;
  dstNode: string;
  dstPath: string;
  chunkBytes: number;
  files: CopiedFile[];
}

/** A copy in progress, as `bosun copy ls` would list it. */
export interface CopyInProgress extends CopyRecord {
  /** `<fromNode>!<request id>`: the `REQCopyFile` request it belongs to. */
  request: string;
  totalBytes: number;
  confirmedBytes: number;
}

const RECORD = 'copy!';
const CHUNK = 'copyChunk!';
const END = 'copyEnd!';

/**
 * The durable progress of the copies a node sends, in the node's method registry (synced
 * writes): per copy a record of what is copied, and per chunk the destination confirmed
 * its offset and sha256, per file whether the destination moved it into place. A
 * `REQCopyFile` run that a crash cut short is run again, and reads this back to go on
 * from the chunks the destination holds instead of from the first byte.
 *
 * Keys: `copy!<fromNode>!<request id>` → `CopyRecord`;
 * `copyChunk!<copyId>!<file>!<offset>` → sha256; `copyEnd!<copyId>!<file>` → bytes.
 */
export class CopyProgress {
  private constructor(
    private readonly registry: MethodRegistryData,
    private readonly requestKey: string,
    readonly record: CopyRecord,
  ) {}

  /** The progress of the copy that `request` (`<fromNode>!<id>`) began, if an earlier run began it. */
  static async find(registry: MethodRegistryData, request: string): Promise<CopyProgress | undefined> {
    const record = await registry.get<CopyRecord>(RECORD + request);
    return record === undefined ? undefined : new CopyProgress(registry, request, record);
  }

  /** Records a copy's beginning, before its first chunk is queued. */
  static async begin(registry: MethodRegistryData, request: string, record: CopyRecord): Promise<CopyProgress> {
    await registry.put(RECORD + request, record);
    return new CopyProgress(registry, request, record);
  }

  /** Every copy of this node in progress, with the bytes the destination confirmed. */
  static async list(registry: MethodRegistryData): Promise<CopyInProgress[]> {
    const copies: CopyInProgress[] = [];
    for (const [key, record] of await registry.list<CopyRecord>(RECORD)) {
      const progress = new CopyProgress(registry, key.slice(RECORD.length), record);
      const held = await progress.confirmedChunks();
      let confirmedBytes = 0;
      for (const [index, chunks] of held) {
        const size = record.files[index]?.size ?? 0;
        for (const offset of chunks.keys()) confirmedBytes += Math.min(record.chunkBytes, size - offset);
      }
      const totalBytes = record.files.reduce((sum, f) => sum + f.size, 0);
      copies.push({ ...record, request: progress.requestKey, totalBytes, confirmedBytes });
    }
    return copies;
  }

  /** Per file index, the chunks the destination confirmed: offset → sha256. */
  async confirmedChunks(): Promise<Map<number, Map<number, string>>> {
    const byFile = new Map<number, Map<number, string>>();
    for (const [key, sha256] of await this.registry.list<string>(`${CHUNK}${this.record.copyId}!`)) {
      const [file, offset] = key.split('!').slice(-2).map(Number) as [number, number];
      if (!byFile.has(file)) byFile.set(file, new Map());
      byFile.get(file)!.set(offset, sha256);
    }
    return byFile;
  }

  /** The files the destination has moved into place. */
  async endedFiles(): Promise<Set<number>> {
    const ended = new Set<number>();
    for (const [key] of await this.registry.list(`${END}${this.record.copyId}!`)) ended.add(Number(key.split('!').pop()));
    return ended;
  }

  chunkConfirmed(file: number, offset: number, sha256: string): Promise<void> {
    return this.registry.put(`${CHUNK}${this.record.copyId}!${pad(file, 6)}!${pad(offset, 16)}`, sha256);
  }

  fileEnded(file: number, bytes: number): Promise<void> {
    return this.registry.put(`${END}${this.record.copyId}!${pad(file, 6)}`, bytes);
  }

  /** Forgets the copy: it is finished, failed, or begins again from the first byte. */
  async forget(): Promise<void> {
    for (const prefix of [`${CHUNK}${this.record.copyId}!`, `${END}${this.record.copyId}!`]) {
      for (const [key] of await this.registry.list(prefix)) await this.registry.del(key);
    }
    await this.registry.del(RECORD + this.requestKey);
  }
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
