/**
 * Writes a copy of a GGUF file with every tensor dequantized to F32: the same weight values and the
 * same metadata (copied verbatim), but a file llama.cpp runs in f32 arithmetic throughout, since
 * its quantized matmuls round their activations to 8 bits and F32 matmuls do not. Tests use it to
 * tell our engine's arithmetic apart from llama.cpp's quantization noise.
 */
import * as fs from 'node:fs';
import { dequantize } from '../../src/engine/gguf/dequantize';
import { GgmlType } from '../../src/engine/gguf/ggmlTypes';
import { openGguf, readTensorBytes } from '../../src/engine/gguf/ggufFile';
import { writeGguf } from '../../src/engine/gguf/ggufWriter';

export function writeF32Copy(src: string, dst: string): void {
  const f = openGguf(src);
  const { start, end } = f.metadataBytes;
  const bytes = new Uint8Array(end - start);
  const fd = fs.openSync(src, 'r');
  try {
    fs.readSync(fd, bytes, 0, bytes.length, start);
  } finally {
    fs.closeSync(fd);
  }
  const tensors = [...f.tensors.values()].map((t) => {
    const values = dequantize(t.type, readTensorBytes(f, t), t.elements);
    return { name: t.name, dims: t.dims, type: GgmlType.F32, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  });
  writeGguf(dst, { count: f.metadata.size, bytes }, tensors, Number(f.metadata.get('general.alignment') ?? 32));
}
