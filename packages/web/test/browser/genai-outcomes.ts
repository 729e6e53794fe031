/** What the genai page (`genai-page/main.ts`) sends back to `genai.e2e.ts`. */

/** A greedy run step by step: its tokens and each step's logits (float32 bytes, base64). */
export interface StepRun {
  readonly tokens: number[];
  readonly logits: string[];
}

export interface GenaiPageOutcome {
  /** The processor's `input_ids` of the one_image prompt. */
  readonly inputIds: number[];
  /** The one_image case, its picture opened from a Blob. */
  readonly oneImage: StepRun;
  /** The text_only case, alone on its generator. */
  readonly textOnly: StepRun;
  /** one_image (its picture opened from a URL) and text_only on two generators of the model, stepped in turn. */
  readonly interleaved: { readonly oneImage: StepRun; readonly textOnly: StepRun };
}

export function float32ToBase64(data: Float32Array): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function base64ToFloat32(base64: string): Float32Array {
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}
