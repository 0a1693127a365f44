/**
 * Images for containers: an ImageStore pulls an image by reference (Docker Registry HTTP API v2)
 * and provisions a root filesystem for one container from it.
 */

/** What the image says about how to run it (the OCI image config's `config`). */
export interface ImageConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir?: string;
  user?: string;
}

export interface PulledImage {
  /** The reference as given, e.g. `127.0.0.1:5000/library/busybox:1`. */
  reference: string;
  /** The digest of the (platform) manifest that was pulled. */
  manifestDigest: string;
  /** Layer digests, bottom first. */
  layers: string[];
  config: ImageConfig;
}

/** An overlay root filesystem still to be mounted. */
export interface RootfsMount {
  lowerDir: string;
  upperDir: string;
  workDir: string;
  target: string;
}

export interface ImageStore {
  /** Pulls (or finds in the cache) the image. Rejects with a message naming what failed. */
  pull(reference: string, options?: { forcePull?: boolean }): Promise<PulledImage>;
  /** Makes `targetDir` the container's writable root filesystem from the image. */
  provision(image: PulledImage, containerId: string, targetDir: string): Promise<void>;
  /**
   * Like provision(), but leaves the mount to whoever starts the container (its supervisor shell:
   * one process spawn fewer per launch). The returned overlay goes on `target`; where overlayfs
   * cannot be mounted the caller copies `lowerDir` into it instead.
   */
  prepareMount?(image: PulledImage, containerId: string, targetDir: string): Promise<RootfsMount>;
  /** Removes what provision() made (unmounts it). Quiet when missing. */
  release(containerId: string, targetDir: string): Promise<void>;
}
