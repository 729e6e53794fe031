import { InputPreparer } from '../prepare.js';
import { preparedTensors } from '../prepared-tensors.js';
import type { PreparedModelInputs } from '../prepare.js';
import { assertDumpTargetFree, writeNpyFolder } from '../dump.js';
import { encodePreparedImages } from '../vision-runner.js';
import { subcommand } from './command-args.js';
import type { OptionValues } from './command-args.js';
import { positiveIntegerFlag } from './flag-values.js';
import { UsageError } from './usage-error.js';

export const PREPARE_HELP = `Usage: qwen-vl prepare --model DIR [--image PATH ...] --prompt TEXT [options]

Runs the Qwen2.5-VL input pipeline (image decoding, chat template, tokenizer, image
processor, 3-D position ids) without running the model, and prints a one-line JSON summary.

Options:
  --model DIR        Hugging Face model folder (config.json, preprocessor_config.json,
                     tokenizer.json, chat_template.json, ...)
  --image PATH       an image file (JPEG, PNG, WebP, GIF, AVIF, TIFF); repeat for several
                     images, in prompt order; none for a text-only prompt
  --prompt TEXT      the user's text, placed after the images
  --system TEXT      system prompt (default: the chat template's own)
  --min-pixels N     override preprocessor_config.json min_pixels
  --max-pixels N     override preprocessor_config.json max_pixels
  --dump OUT         write input_ids.npy, pixel_values.npy, image_grid_thw.npy,
                     position_ids.npy and rope_deltas.npy into the new folder OUT; with a
                     folder made by "qwen-vl build", also the vision encoder's output
                     image_features.npy
  -h, --help         show this help
`;

export interface PrepareCommand {
  model: string;
  images: string[];
  prompt: string;
  system: string | undefined;
  minPixels: number | undefined;
  maxPixels: number | undefined;
  dump: string | undefined;
}

const PREPARE_OPTIONS = {
  model: { type: 'string' },
  image: { type: 'string', multiple: true },
  prompt: { type: 'string' },
  system: { type: 'string' },
  'min-pixels': { type: 'string' },
  'max-pixels': { type: 'string' },
  dump: { type: 'string' },
} as const;

/** The command the flags given to `prepare` ask for. */
function prepareCommand(values: OptionValues<typeof PREPARE_OPTIONS>): PrepareCommand {
  if (values.model === undefined) throw new UsageError('prepare needs --model DIR');
  if (values.prompt === undefined) throw new UsageError('prepare needs --prompt TEXT');
  const minPixels = positiveIntegerFlag(values['min-pixels'], '--min-pixels');
  const maxPixels = positiveIntegerFlag(values['max-pixels'], '--max-pixels');
  if (minPixels !== undefined && maxPixels !== undefined && minPixels > maxPixels) {
    throw new UsageError(`--min-pixels ${minPixels} is larger than --max-pixels ${maxPixels}`);
  }
  return {
    model: values.model,
    images: values.image ?? [],
    prompt: values.prompt,
    system: values.system,
    minPixels,
    maxPixels,
    dump: values.dump,
  };
}

/** The one-line summary: sizes a person can check at a glance, with Hugging Face's names. */
export function summarize(prepared: PreparedModelInputs): Record<string, unknown> {
  return {
    tokens: prepared.inputIds.dims[1],
    images: prepared.imageGridThw.length,
    image_grid_thw: prepared.imageGridThw,
    image_tokens: prepared.imageTokenCount,
    rope_delta: prepared.positions.ropeDeltas[0],
    pixel_values_shape: [prepared.patchCount, prepared.rowSize],
  };
}

export const runPrepare = subcommand(PREPARE_HELP, PREPARE_OPTIONS, prepareCommand, async (command, output) => {
  // Refuse an occupied dump folder before the work, not after it.
  if (command.dump !== undefined) await assertDumpTargetFree(command.dump);
  const preparer = await InputPreparer.load(command.model);
  const prepared = await preparer.prepare({
    images: command.images,
    prompt: command.prompt,
    system: command.system,
    minPixels: command.minPixels,
    maxPixels: command.maxPixels,
  });
  if (command.dump === undefined) {
    output.stdout(`${JSON.stringify(summarize(prepared))}\n`);
    return;
  }
  const features = await encodePreparedImages(command.model, prepared);
  await writeNpyFolder(command.dump, preparedTensors(prepared, features), output.signal);
  const featureShape = features !== undefined ? { image_features_shape: features.dims } : {};
  output.stdout(`${JSON.stringify({ ...summarize(prepared), ...featureShape, dump: command.dump })}\n`);
});
