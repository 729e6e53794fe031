/**
 * UTF-8 text ↔ bytes for safetensors headers. Core compiles against the plain ES library
 * (no DOM, no Node types), so the two WHATWG codec globals that every supported runtime
 * provides (Node ≥ 11, browsers, workers) are declared here with just the surface we use.
 */
declare const TextDecoder: new (label: 'utf-8', options: { fatal: boolean }) => { decode(input: Uint8Array): string };
declare const TextEncoder: new () => { encode(input: string): Uint8Array };

/** Throws a `TypeError` on malformed UTF-8 instead of substituting U+FFFD. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

export function encodeUtf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
