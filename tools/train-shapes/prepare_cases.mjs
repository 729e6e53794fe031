// Runs this project's input pipeline (sharp decode, processor, chat template, tokenizer,
// get_rope_index) on the cases check_processor.py wrote, so the Python processor can be
// compared with it. Usage: node prepare_cases.mjs MODEL_DIR CASES_DIR
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { InputPreparer, decodeImage } = await import(resolve(root, 'packages/node/dist/index.js'));
const [modelDir, casesDir] = process.argv.slice(2);
const preparer = await InputPreparer.load(modelDir);
const cases = JSON.parse(readFileSync(resolve(casesDir, 'cases.json'), 'utf8'));
for (const c of cases) {
  const images = await Promise.all(c.images.map((p) => decodeImage(resolve(casesDir, p))));
  const videos = await Promise.all(c.videos.map((frames) => Promise.all(frames.map((p) => decodeImage(resolve(casesDir, p))))));
  const content = [...images.map(() => ({ type: 'image' })), ...videos.map(() => ({ type: 'video' })), { type: 'text', text: c.question }];
  const out = preparer.prepareMessages([{ role: 'user', content }], { images, videos }, { fps: 2 });
  const pixels = videos.length ? out.pixelValuesVideos : out.pixelValues;
  writeFileSync(resolve(casesDir, `${c.name}.f32`), Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength));
  writeFileSync(
    resolve(casesDir, `${c.name}.json`),
    JSON.stringify({
      ids: Array.from(out.inputIds),
      positions: Array.from(out.positionIds),
      grids: videos.length ? out.videoGridThw : out.imageGridThw,
      delta: out.ropeDelta,
    }),
  );
}
console.log(`prepared ${cases.length} cases`);
