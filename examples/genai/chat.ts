// A chat that keeps its history in the KV cache: onnxruntime-genai's
// examples/python/model-chat.py, step for step, on qwen-vl's genai-style API. The system
// prompt goes in once; each turn appends only the user's new message (the answers are in the
// cache already), and --rewind goes back to the system prompt after every answer. With
// --image_paths the first turn carries those images.
//
//   node examples/dist/chat.js -m MODEL_DIR [-e cpu|cuda|dml|webgpu] [-s SYSTEM] [--image_paths a.png]
//       [-u TURN -u TURN ...] [-l MAX_LENGTH] [--max_new_tokens N] [-i MIN_LENGTH] [--do_sample] [-p TOP_P] [-k TOP_K]
//       [-t TEMPERATURE] [--repetition_penalty R] [-r] [-v] [-g]
//
// Without -u it reads the turns from the terminal ("Input: "), until quit() or end of input.
import { parseArgs } from 'node:util';
import { Generator, GeneratorParams, Images, Model, Tokenizer } from '@qwen-vl/node';
import { getConfig, getSearchOptions, isExecutionProvider, openTerminal } from './common.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      model_path: { type: 'string', short: 'm' },
      execution_provider: { type: 'string', short: 'e', default: 'cpu' },
      min_length: { type: 'string', short: 'i' },
      max_length: { type: 'string', short: 'l' },
      max_new_tokens: { type: 'string' },
      do_sample: { type: 'boolean', default: false },
      top_p: { type: 'string', short: 'p' },
      top_k: { type: 'string', short: 'k' },
      temperature: { type: 'string', short: 't' },
      repetition_penalty: { type: 'string' },
      verbose: { type: 'boolean', short: 'v', default: false },
      timings: { type: 'boolean', short: 'g', default: false },
      system_prompt: { type: 'string', short: 's', default: 'You are a helpful assistant.' },
      rewind: { type: 'boolean', short: 'r', default: false },
      user_prompt: { type: 'string', short: 'u', multiple: true },
      image_paths: { type: 'string', multiple: true },
    },
  });
  const provider = values.execution_provider;
  if (values.model_path === undefined || !isExecutionProvider(provider) || provider === 'follow_config') {
    console.error('usage: chat.js -m MODEL_DIR [-e cpu|cuda|dml|webgpu] [-s SYSTEM] [--image_paths PATH ...] [-u TURN ...] [search options] [-r] [-v] [-g]');
    return 2;
  }
  const verbose = values.verbose;

  if (verbose) console.log('Loading model...');
  const model = await Model.create(getConfig(values.model_path, provider, verbose));
  if (verbose) console.log('Model loaded');

  const tokenizer = await Tokenizer.create(model);
  const tokenizerStream = tokenizer.createStream();
  if (verbose) console.log('Tokenizer created\n');

  const searchOptions = { ...getSearchOptions(values), batchSize: 1 };
  if (verbose) console.log(searchOptions);

  const params = new GeneratorParams(model);
  params.setSearchOptions(searchOptions);
  const generator = await Generator.create(model, params);
  if (verbose) console.log('Generator created');

  // The system prompt, as the chat template writes it; each user turn is what the template adds after it.
  const system = { role: 'system', content: values.system_prompt };
  const systemText = tokenizer.applyChatTemplate(JSON.stringify([system]), { addGenerationPrompt: false });
  const systemTokens = tokenizer.encode(systemText);
  const imEnd = tokenizer.encode('<|im_end|>')[0];
  const userTurn = (content: unknown): string => {
    const whole = tokenizer.applyChatTemplate(JSON.stringify([system, { role: 'user', content }]), { addGenerationPrompt: true });
    if (!whole.startsWith(systemText)) throw new Error('the chat template does not render the system turn first');
    return whole.slice(systemText.length);
  };

  // The first turn takes the images, with the system prompt, through the processor; else the system prompt goes in alone.
  let images = values.image_paths !== undefined ? await Images.open(...values.image_paths) : undefined;
  if (images === undefined) generator.appendTokens(systemTokens);
  const systemPromptLength = systemTokens.length;

  const turns = values.user_prompt;
  const terminal = turns === undefined ? openTerminal() : undefined;
  let turn = 0;
  try {
    for (;;) {
      let text: string;
      if (terminal !== undefined) {
        const line = await terminal.ask('Input: ');
        if (line === undefined || line === 'quit()') break;
        text = line;
      } else {
        if (turn === turns!.length) break;
        text = turns![turn];
      }
      turn++;
      if (!text) {
        console.log('Error, input cannot be empty');
        continue;
      }

      const started = performance.now();
      let inputTokens: number;
      if (images !== undefined) {
        const content = [...images.images.map(() => ({ type: 'image' })), { type: 'text', text }];
        const inputs = await model.createMultimodalProcessor().process(JSON.stringify([system, { role: 'user', content }]), { images });
        generator.setInputs(inputs);
        inputTokens = inputs.get('input_ids').dims[1];
        images = undefined;
      } else {
        // After an answer, close its turn as the template does: "<|im_end|>\n" (an answer that ended at EOS has its <|im_end|>).
        const sequence = generator.getSequence(0);
        const close = generator.tokenCount() === systemPromptLength ? '' : sequence[sequence.length - 1] === imEnd ? '\n' : '<|im_end|>\n';
        const tokens = tokenizer.encode(close + userTurn(text));
        generator.appendTokens(tokens);
        inputTokens = tokens.length;
      }

      if (verbose) console.log('Running generation loop ...');
      let firstToken: number | undefined;
      let newTokens = 0;
      process.stdout.write('\nOutput: ');
      while (!generator.isDone()) {
        await generator.generateNextToken();
        firstToken ??= performance.now();
        const newToken = generator.getNextTokens()[0];
        process.stdout.write(tokenizerStream.decode(newToken));
        newTokens++;
      }
      console.log('\n');

      if (values.timings && firstToken !== undefined) {
        const promptTime = (firstToken - started) / 1000;
        const runTime = (performance.now() - firstToken) / 1000;
        console.log(
          `Prompt length: ${inputTokens}, New tokens: ${newTokens}, Time to first: ${promptTime.toFixed(2)}s, Prompt tokens per second: ${(inputTokens / promptTime).toFixed(2)} tps, New tokens per second: ${(newTokens / runTime).toFixed(2)} tps`,
        );
      }

      // Back to the system prompt: the next turn starts a new conversation.
      if (values.rewind) generator.rewindTo(systemPromptLength);
    }
  } finally {
    terminal?.close();
    await model.dispose();
  }
  return 0;
}

process.exitCode = await main();
