// Ask about any number of images (none included), in a loop: onnxruntime-genai's
// examples/python/model-vision.py, step for step, on qwen-vl's genai-style API.
//
//   node examples/dist/multi-image.js -m MODEL_DIR                       (asks for image paths and prompts)
//   node examples/dist/multi-image.js -m MODEL_DIR --non_interactive [--image_paths a.png --image_paths b.png] [-p PROMPT] [--max_length N]
//
// Without --image_paths the non-interactive run asks about examples/images/shapes-three.png.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Generator, GeneratorParams, Images, Model, Tokenizer } from '@qwen-vl/node';
import { EXECUTION_PROVIDERS, getConfig, isExecutionProvider, openTerminal } from './common.js';

/** The picture a non-interactive run asks about when given none (the seed's australia.jpg). */
const DEFAULT_IMAGE = fileURLToPath(new URL('../images/shapes-three.png', import.meta.url));
/** The seed's fixed max_length, within the model's context. */
const MAX_LENGTH = 7680;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      model_path: { type: 'string', short: 'm' },
      execution_provider: { type: 'string', short: 'e', default: 'follow_config' },
      image_paths: { type: 'string', multiple: true },
      prompt: { type: 'string', short: 'p' },
      non_interactive: { type: 'boolean', default: false },
      max_length: { type: 'string' },
    },
  });
  const provider = values.execution_provider;
  if (values.model_path === undefined || !isExecutionProvider(provider)) {
    console.error(`usage: multi-image.js -m MODEL_DIR [-e ${EXECUTION_PROVIDERS.join('|')}] [--non_interactive] [--image_paths PATH ...] [-p PROMPT] [--max_length N]`);
    return 2;
  }

  console.log('Loading model...');
  const model = await Model.create(getConfig(values.model_path, provider, true));
  console.log('Model loaded');

  const tokenizer = await Tokenizer.create(model);
  const processor = model.createMultimodalProcessor();
  const stream = processor.createStream();

  const interactive = !values.non_interactive;
  const terminal = interactive ? openTerminal() : undefined;
  try {
    for (;;) {
      let imagePaths: string[];
      if (terminal !== undefined) {
        const line = await terminal.ask('Image Path (comma separated; leave empty if no image): ');
        if (line === undefined) break;
        imagePaths = line.split(',').map((path) => path.trim());
      } else {
        imagePaths = values.image_paths ?? [DEFAULT_IMAGE];
      }
      imagePaths = imagePaths.filter((path) => path.length > 0);

      let images: Images | undefined;
      if (imagePaths.length === 0) {
        console.log('No image provided');
      } else {
        for (const imagePath of imagePaths) {
          if (!existsSync(imagePath)) throw new Error(`Image file not found: ${imagePath}`);
          console.log(`Using image: ${imagePath}`);
        }
        images = await Images.open(...imagePaths);
      }

      const text = terminal !== undefined ? await terminal.ask('Prompt: ') : (values.prompt ?? 'What is shown in this image?');
      if (text === undefined) break;

      // Qwen2.5-VL takes structured content: an image item per image, then the text.
      const messages = [{ role: 'user', content: [...imagePaths.map(() => ({ type: 'image' })), { type: 'text', text }] }];

      // The chat template writes the vision placeholders into the prompt.
      const prompt = tokenizer.applyChatTemplate(JSON.stringify(messages), { addGenerationPrompt: true });

      console.log('Processing images and prompt...');
      const inputs = await processor.process(prompt, { images });
      for (const name of ['input_ids', 'pixel_values', 'image_grid_thw']) if (inputs.has(name)) console.log(`${name}: [${inputs.get(name).dims.join(', ')}]`);

      console.log('Generating response...');
      const params = new GeneratorParams(model);
      params.setSearchOptions({ maxLength: values.max_length !== undefined ? Number(values.max_length) : Math.min(MAX_LENGTH, model.config.text.maxPositionEmbeddings) });

      const generator = await Generator.create(model, params);
      generator.setInputs(inputs);
      const start = performance.now();

      while (!generator.isDone()) {
        await generator.generateNextToken();
        const newToken = generator.getNextTokens()[0];
        process.stdout.write(stream.decode(newToken));
      }

      console.log();
      console.log(`Total Time : ${((performance.now() - start) / 1000).toFixed(2)}`);
      console.log('\n\n');

      if (!interactive) break;
    }
  } finally {
    terminal?.close();
    await model.dispose();
  }
  return 0;
}

process.exitCode = await main();
