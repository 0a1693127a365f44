/** Versions reported by the APIs: the Mesos API level we speak and our own release. */
export const VERSION = {
  dcos: '0.1.0',
  mesos: '1.12.0',
} as const;
