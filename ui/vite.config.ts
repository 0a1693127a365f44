import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

// Vite 8 transforms TSX itself (oxc); React 19's automatic runtime means no `import React`.
export default defineConfig({
  root: here,
  base: '/',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    // `npx vite ui` during development: API calls go to a running cluster's gateway.
    proxy: Object.fromEntries(['/mesos', '/agent', '/service', '/dcos-metadata'].map((p) => [p, process.env.DCOS_URL ?? 'http://127.0.0.1:8000'])),
  },
});
