// Run a Qwen2.5-VL model on images and a prompt, streaming the answer: onnxruntime-genai's
// examples/python/run_qwen2_5_vl.py, step for step, on qwen-vl's genai-style API.
//
//   node examples/dist/basic.js -m MODEL_DIR -i photo.jpg [-i more.png] [-p PROMPT] [-s SYSTEM] [-e cpu|cuda|dml|webgpu] [--max_length N]
//
// MODEL_DIR is a folder made by `qwen-vl build` (genai's holds genai_config.json instead).
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Generator, GeneratorParams, Images, Model, Tokenizer } from '@qwen-vl/node';
import { EXECUTION_PROVIDERS, getConfig, isExecutionProvider } from './common.js';

function listContents(dir: string): void {
  console.log('Directory contents:');
  for (const name of readdirSync(dir).sort()) console.log(`  - ${name}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      model_path: { type: 'string', short: 'm' },
      image_paths: { type: 'string', short: 'i', multiple: true },
      prompt: { type: 'string', short: 'p', default: 'Describe this image in detail.' },
      system_prompt: { type: 'string', short: 's' },
      execution_provider: { type: 'string', short: 'e', default: 'follow_config' },
      max_length: { type: 'string', default: '2048' },
    },
  });
  const imagePaths = values.image_paths ?? [];
  const provider = values.execution_provider;
  if (values.model_path === undefined || imagePaths.length === 0 || !isExecutionProvider(provider)) {
    console.error(`usage: basic.js -m MODEL_DIR -i IMAGE [-i IMAGE ...] [-p PROMPT] [-s SYSTEM] [-e ${EXECUTION_PROVIDERS.join('|')}] [--max_length N]`);
    return 2;
  }

  console.log(`Loading model from: ${values.model_path}`);
  console.log(`Using execution provider: ${provider}`);

  // The images must exist before anything is loaded.
  for (const imagePath of imagePaths) {
    if (!existsSync(imagePath)) {
      console.log(`Error: Image file not found: ${imagePath}`);
      return 1;
    }
  }

  const modelDir = resolve(values.model_path);
  if (!existsSync(modelDir)) {
    console.log(`Error: Model directory does not exist: ${modelDir}`);
    return 1;
  }

  const config = getConfig(modelDir, provider);
  let model: Model;
  try {
    model = await Model.create(config);
  } catch (error) {
    console.log(`Error: Failed to create model from ${modelDir}\n${(error as Error).message}`);
    listContents(modelDir);
    throw error;
  }
  console.log(`Model type: ${model.type}`);

  // The processor, the tokenizer and a stream to turn tokens into text.
  const processor = model.createMultimodalProcessor();
  const tokenizer = await Tokenizer.create(model);
  const stream = processor.createStream();

  console.log(`Loading ${imagePaths.length} image(s)...`);
  let images: Images;
  try {
    images = await Images.open(...imagePaths);
  } catch (error) {
    console.log(`Error loading images: ${(error as Error).message}`);
    console.log('Please ensure the image files are valid JPEG, PNG, or other supported formats.');
    await model.dispose();
    return 1;
  }

  // The conversation as chat messages: an optional system turn, then the images and the text.
  const messages: object[] = [];
  if (values.system_prompt !== undefined) messages.push({ role: 'system', content: [{ type: 'text', text: values.system_prompt }] });
  messages.push({ role: 'user', content: [...imagePaths.map(() => ({ type: 'image' })), { type: 'text', text: values.prompt }] });

  // The chat template writes the vision placeholders into the prompt.
  const prompt = tokenizer.applyChatTemplate(JSON.stringify(messages), { addGenerationPrompt: true });

  console.log('\n=== User Query ===');
  console.log(values.prompt);
  if (values.system_prompt !== undefined) {
    const system = values.system_prompt;
    console.log(system.length > 100 ? `\nSystem Prompt: ${system.slice(0, 100)}...` : system);
  }

  console.log('Processing images and prompt...');
  let inputs;
  try {
    inputs = await processor.process(prompt, { images });
  } catch (error) {
    console.log(`Error processing inputs: ${(error as Error).message}`);
    await model.dispose();
    return 1;
  }

  console.log('\nGenerating response...');
  const params = new GeneratorParams(model);
  params.setSearchOptions({ maxLength: Number(values.max_length) });
  // (The seed turns CUDA graph capture off here; qwen-vl captures no graph.)

  const generator = await Generator.create(model, params);
  generator.setInputs(inputs);

  const start = performance.now();
  console.log('\n=== Answer ===');
  while (!generator.isDone()) {
    await generator.generateNextToken();
    const newToken = generator.getNextTokens()[0];
    process.stdout.write(stream.decode(newToken));
  }
  console.log();

  const elapsed = (performance.now() - start) / 1000;
  const totalTokens = generator.getSequence(0).length;
  console.log(`\n${'='.repeat(60)}`);
  console.log('Generation completed!');
  console.log(`Total time: ${elapsed.toFixed(2)}s`);
  console.log(`Total tokens: ${totalTokens}`);
  console.log(`Tokens/sec: ${(totalTokens / elapsed).toFixed(2)}`);
  console.log('='.repeat(60));

  // Frees the sessions (the seed deletes its objects one by one).
  await model.dispose();
  return 0;
}

process.exitCode = await main();
