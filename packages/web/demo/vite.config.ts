import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import type { Plugin } from 'vite';
import { ISOLATION_HEADERS, serveMounts } from './static-server.js';

/**
 * The demo page. `vite build --config demo/vite.config.ts` writes demo/dist; `vite preview`
 * with this config serves it on 127.0.0.1 with the model folder under /models/tiny/:
 * $QWEN_VL_DEMO_MODEL, else the trained tiny-shapes model (models/tiny-shapes) that `pnpm demo`
 * builds in .cache/tiny-shapes/model.
 */

const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));
const modelFolder = process.env.QWEN_VL_DEMO_MODEL ?? `${repositoryRoot}.cache/tiny-shapes/model`;

function modelFolderPlugin(): Plugin {
  return {
    name: 'qwen-vl-demo-model-folder',
    configurePreviewServer(server) {
      if (!existsSync(`${modelFolder}/qwen-vl.json`)) {
        server.config.logger.warn(
          `no built model in ${modelFolder}: run \`pnpm build && pnpm demo\` at the repository root first (it builds models/tiny-shapes there), or set QWEN_VL_DEMO_MODEL to a folder made by \`qwen-vl build\``,
        );
      }
      server.middlewares.use(serveMounts({ '/models/tiny/': modelFolder }));
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // Not 'spa': a single-page app's server answers every missing path with index.html, so a
  // model file the folder lacks (chat_template.jinja) would come back as a web page.
  appType: 'mpa',
  publicDir: false,
  resolve: {
    // The demo uses the package as an application would: its built entry point.
    alias: { '@qwen-vl/web': fileURLToPath(new URL('../dist/index.js', import.meta.url)) },
  },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  // A module worker: onnxruntime-web loads its runtime with dynamic imports, which a classic one cannot.
  worker: { format: 'es' },
  preview: { host: '127.0.0.1', port: 4173, headers: { ...ISOLATION_HEADERS } },
  plugins: [modelFolderPlugin()],
});
