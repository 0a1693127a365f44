/** What an operator does with an agent's image cache: list, load from an archive, collect garbage. */

export interface ImageSummary {
  /** `repo:tag` as pulled or loaded (several names may share one manifest). */
  reference: string;
  manifestDigest: string;
  /** Bytes on disk: its blobs and its unpacked root filesystem. */
  sizeBytes: number;
  layers: string[];
  /** Epoch ms of the last pull, load or container start that used it. */
  lastUsedMs: number;
  /** Containers that use it right now (never collected while > 0). */
  inUse: number;
  source: 'registry' | 'archive';
}

export interface ImageGcPolicy {
  /** Unused images are removed, least recently used first, until the cache is at most this big. */
  maxBytes?: number;
  /** Unused images not used for this long are removed. */
  maxAgeMs?: number;
  /** References kept whatever their age. */
  exclude?: string[];
}

export interface ImageGcResult {
  removed: string[];
  freedBytes: number;
  keptBytes: number;
}

export interface ImageAdmin {
  list(): Promise<ImageSummary[]>;
  /** Loads a `docker save` tarball or an OCI image-layout archive; every blob is verified. */
  load(archivePath: string, nowMs: number): Promise<ImageSummary[]>;
  gc(policy: ImageGcPolicy, nowMs: number): Promise<ImageGcResult>;
}
