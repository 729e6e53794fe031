type TypedRows = Int32Array | BigInt64Array | Float32Array | Uint16Array;

/**
 * Columns `[start, end)` of `data` read as a row-major `[rows, length]` matrix: a slice of
 * every row of a mask, of position ids (rows = 3·B), or of embeddings (columns scaled by the
 * hidden size). Returns `data` itself when that is all of it.
 */
export function columnRange<T extends TypedRows>(data: T, rows: number, length: number, start: number, end: number): T {
  if (start === 0 && end === length) return data;
  const width = end - start;
  const out = new (data.constructor as new (size: number) => T)(rows * width);
  for (let row = 0; row < rows; row++) (out as Int32Array).set((data as Int32Array).subarray(row * length + start, row * length + end), row * width);
  return out;
}
